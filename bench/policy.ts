/** Not written yet. */
export async function run(): Promise<void> {
  console.log('(no benchmark yet)')
}
