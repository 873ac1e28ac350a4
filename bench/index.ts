/**
 * `npm run bench [-- name ...]`: runs every benchmark (or the named ones) in this process.
 * Each compares the subject with a named baseline in the same run and prints the ratio.
 */
const suites: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  policy: () => import('./policy.js'),
  exchange: () => import('./exchange.js'),
  audit: () => import('./audit.js'),
  vault: () => import('./vault.js'),
}

const wanted = process.argv.slice(2)
const names = wanted.length > 0 ? wanted : Object.keys(suites)
for (const name of names) {
  const load = suites[name]
  if (!load) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(suites).join(', ')}`)
    process.exit(2)
  }
  console.log(`\n# ${name}`)
  const suite = await load()
  await suite.run()
}
