// Small helpers the benchmarks share: progress lines on stderr, number formatting, polling.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

/** A timestamped progress line on stderr (stdout is kept for the one result line). */
export const progress = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)
/** A plain line on stderr. */
export const say = (line = '') => process.stderr.write(line + '\n')
export const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : 'n/a'
/** a/b with 3 decimals, or NA when either side is missing. */
export const ratio3 = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0) ? (a / b).toFixed(3) : 'NA'

/** The middle value, or the mean of the two middle values of an even count; NaN for none. */
export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A positive integer from the environment, or `fallback` when unset. */
export function envPositiveInt (name: string, fallback: number): number {
  const n = envPositiveNumber(name, fallback)
  if (!Number.isInteger(n)) throw new Error(`${name} must be a positive integer, got "${process.env[name] ?? ''}"`)
  return n
}

/** A positive number (fractions allowed) from the environment, or `fallback` when unset. */
export function envPositiveNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`)
  return n
}

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor (what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export async function withTimeout<T> (promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms)
  })
  try { return await Promise.race([promise, timeout]) } finally { clearTimeout(timer) }
}

/**
 * Runs `cleanup` on SIGINT or SIGTERM, then exits 130, so an interrupted bench leaves nothing
 * behind. Returns a function that removes the handlers.
 */
export function cleanUpOnSignal (cleanup: () => Promise<void>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: cleaning up`)
    cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
