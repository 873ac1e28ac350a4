/**
 * Small helpers shared by the benchmarks: every benchmark runs its subject and its named
 * baseline side by side in one process and reports the ratio.
 */

export interface Sample {
  /** Median nanoseconds per operation. */
  medianNs: number
  /** 10th and 90th percentile nanoseconds per operation. */
  p10Ns: number
  p90Ns: number
  /** Operations per second at the median. */
  opsPerSec: number
}

function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((sorted.length - 1) * p)))
  return sorted[i] ?? Number.NaN
}

/**
 * Measures a synchronous function: `rounds` rounds of `batch` calls each, reporting per-call
 * nanoseconds (median over rounds). Warm-up rounds are discarded.
 */
export function measureSync(fn: () => unknown, { batch = 10_000, rounds = 30, warmup = 5 } = {}): Sample {
  const times: number[] = []
  let sink: unknown
  for (let r = 0; r < rounds + warmup; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) sink = fn()
    const dt = Number(process.hrtime.bigint() - t0) / batch
    if (r >= warmup) times.push(dt)
  }
  if (sink === Symbol.for('never')) console.log(sink)
  return summarize(times)
}

/**
 * Measures an async operation at a given concurrency: `total` operations, `concurrency` in
 * flight. Per-operation latency samples give the median; throughput is total / wall time.
 */
export async function measureAsync(
  fn: (i: number) => Promise<unknown>,
  { total = 2_000, concurrency = 1, warmup = 200 } = {},
): Promise<Sample & { throughput: number }> {
  for (let i = 0; i < warmup; i++) await fn(i)
  const latencies: number[] = []
  let next = 0
  const t0 = process.hrtime.bigint()
  const worker = async () => {
    while (next < total) {
      const i = next++
      const s = process.hrtime.bigint()
      await fn(i)
      latencies.push(Number(process.hrtime.bigint() - s))
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wallNs = Number(process.hrtime.bigint() - t0)
  return { ...summarize(latencies), throughput: total / (wallNs / 1e9) }
}

function summarize(times: number[]): Sample {
  const sorted = [...times].sort((a, b) => a - b)
  const medianNs = percentile(sorted, 0.5)
  return {
    medianNs,
    p10Ns: percentile(sorted, 0.1),
    p90Ns: percentile(sorted, 0.9),
    opsPerSec: 1e9 / medianNs,
  }
}

/** Formats nanoseconds for humans. */
export function fmtNs(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(0)} ns`
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`
  return `${(ns / 1_000_000).toFixed(2)} ms`
}

/** Prints a titled table of rows. */
export function table(title: string, rows: Record<string, string | number>[]): void {
  console.log(`\n## ${title}`)
  console.table(rows)
}

/** Prints a ratio line with its target and whether it is met. */
export function ratio(label: string, value: number, target: string, met: boolean): void {
  console.log(`${label}: ${value.toFixed(2)} (target ${target}) ${met ? 'MET' : 'NOT MET'}`)
}
