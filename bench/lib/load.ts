// The load generator the benchmarks run in a forked process (bench/lib/load-child.ts), so it is
// never inside a server under test. `runLoad` forks it and samples the servers' CPU over the
// measured window; the child reports its own CPU.
import { fork, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type autocannonType from 'autocannon'
import { cpuMark, cpuPct, machineMark, pinnedForkOptions, stealMark, type CpuMark } from './cpu.js'

const LOAD_CHILD = fileURLToPath(new URL('./load-child.js', import.meta.url))

/** autocannon against one URL: a warm-up run, then the measured run. */
export interface RpsJob {
  kind: 'rps'
  url: string
  connections: number
  warmupS: number
  durationS: number
  /** Request headers (autocannon `headers`). */
  headers?: Record<string, string>
  /**
   * Also time every response of the measured run from autocannon's `response` event, to
   * sub-millisecond precision (autocannon's own histogram keeps whole milliseconds).
   */
  exactLatency?: boolean
}
/** Full sequential GETs over one keep-alive connection until `durationS` has passed. */
export interface BigJob { kind: 'big', url: string, expectedBytes: number, warmupRequests: number, durationS: number, headers?: Record<string, string> }
export type LoadJob = RpsJob | BigJob

export interface RpsResult {
  kind: 'rps'
  /** autocannon's mean of the per-second counts (all responses, whatever their status). */
  rps: number
  total: number
  non2xx: number
  errors: number
  timeouts: number
  /** autocannon's percentiles (whole milliseconds). */
  p50Ms: number
  p99Ms: number
  durationS: number
  /** Responses of the measured run by status code. */
  statusCounts: Record<string, number>
  /** Percentiles of every response's time in the measured run, when the job asked for them. */
  exact: { p50Ms: number, p99Ms: number, count: number } | null
}
export interface BigResult { kind: 'big', bytes: number, requests: number, elapsedMs: number }
type LoadMessage =
  | { type: 'start' }
  | { type: 'end', cpuPct: number }
  | { type: 'result', result: RpsResult | BigResult }
  | { type: 'error', message: string }

function getOnce (url: string, agent: http.Agent, expectedBytes: number, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`GET ${url}: status ${res.statusCode}`))
        return
      }
      let n = 0
      res.on('data', (chunk: Buffer) => { n += chunk.length })
      res.on('error', reject)
      res.on('end', () => {
        if (n !== expectedBytes) reject(new Error(`GET ${url}: ${n} bytes, expected ${expectedBytes}`))
        else resolve(n)
      })
    }).on('error', reject)
  })
}

/** Nearest-rank percentile of sorted values. */
function percentileOf (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** One autocannon run; `onResponse` sees every response's time in ms. */
function cannon (autocannon: typeof autocannonType, options: autocannonType.Options, onResponse: ((ms: number) => void) | null): Promise<autocannonType.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err, result) => { if (err) reject(err); else resolve(result) })
    if (onResponse !== null) instance.on('response', (_client, _status, _bytes, ms) => onResponse(ms))
  })
}

/** The child's side: runs `job` and reports start, end (with its CPU) and the result over IPC. */
export async function loadChild (job: LoadJob): Promise<void> {
  const send = (msg: LoadMessage) => new Promise<void>((resolve) => process.send!(msg, () => resolve()))
  try {
    if (job.kind === 'rps') {
      const { default: autocannon } = await import('autocannon')
      const opts = { url: job.url, connections: job.connections, ...(job.headers === undefined ? {} : { headers: job.headers }) }
      await autocannon({ ...opts, duration: job.warmupS })
      const times: number[] = []
      await send({ type: 'start' })
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const r = await cannon(autocannon, { ...opts, duration: job.durationS }, job.exactLatency === true ? (ms) => { times.push(ms) } : null)
      const cpu = process.cpuUsage(cpu0)
      await send({ type: 'end', cpuPct: (cpu.user + cpu.system) / 1000 / (performance.now() - t0) * 100 })
      const statusCounts: Record<string, number> = {}
      for (const [code, stats] of Object.entries(r.statusCodeStats ?? {})) statusCounts[code] = stats.count ?? 0
      const sorted = Float64Array.from(times).sort()
      const exact = job.exactLatency === true ? { p50Ms: percentileOf(sorted, 50), p99Ms: percentileOf(sorted, 99), count: sorted.length } : null
      await send({
        type: 'result',
        result: { kind: 'rps', rps: r.requests.average, total: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, p50Ms: r.latency.p50, p99Ms: r.latency.p99, durationS: r.duration, statusCounts, exact }
      })
    } else {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      for (let i = 0; i < job.warmupRequests; i++) await getOnce(job.url, agent, job.expectedBytes, job.headers)
      await send({ type: 'start' })
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      let bytes = 0
      let requests = 0
      while (performance.now() - t0 < job.durationS * 1000) {
        bytes += await getOnce(job.url, agent, job.expectedBytes, job.headers)
        requests++
      }
      const elapsedMs = performance.now() - t0
      const cpu = process.cpuUsage(cpu0)
      await send({ type: 'end', cpuPct: (cpu.user + cpu.system) / 1000 / elapsedMs * 100 })
      agent.destroy()
      await send({ type: 'result', result: { kind: 'big', bytes, requests, elapsedMs } })
    }
  } catch (err) {
    await send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) })
  }
  if (process.connected) process.disconnect() // not when the parent is already gone
}

export interface LoadRun<R> {
  result: R
  serverCpuPct: number
  /** CPU of each server process over the window, in % of one core, in the order serverPids gave. */
  serverCpuByPid: Array<{ pid: number, pct: number }>
  loadCpuPct: number
  /** CPU of the `watch` processes over the window (NaN without any), in % of one core. */
  watchedCpuPct: number
  /** Busy CPU of the whole machine over the window, in % of one core (the machine has cpus().length). */
  machineCpuPct: number
  /** Steal time of the whole machine over the window (part of machineCpuPct), in % of one core. */
  stealPct: number
}

export interface LoadOptions {
  /** Run the load generator under `taskset -c cores`. */
  pin?: { taskset: string, cores: string } | null
  /** Other processes whose CPU to sample over the same window (e.g. idle nodes on the servers' core). */
  watch?: () => number[]
}

/** Runs one load job in a forked process; samples the servers' CPU over the measured window. */
export function runLoad<R extends RpsResult | BigResult> (job: LoadJob, serverPids: () => number[], children: Set<ChildProcess>, opts: LoadOptions = {}): Promise<LoadRun<R>> {
  return new Promise((resolve, reject) => {
    const pin = opts.pin ?? null
    const child = fork(LOAD_CHILD, [JSON.stringify(job)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...(pin === null ? {} : pinnedForkOptions(pin.taskset, pin.cores))
    })
    children.add(child)
    let pids: number[] = []
    let watched: number[] = []
    let watchStart: CpuMark | null = null
    let watchedCpuPct = NaN
    let start: CpuMark[] | null = null
    let machineStart: CpuMark | null = null
    let stealStart: CpuMark | null = null
    let stealPct = NaN
    let serverCpuByPid: Array<{ pid: number, pct: number }> = []
    let machineCpuPct = NaN
    let loadCpuPct = NaN
    let result: R | null = null
    let failure: Error | null = null
    child.on('message', (msg: LoadMessage) => {
      if (msg.type === 'start') {
        pids = serverPids()
        start = pids.map((p) => cpuMark([p]))
        watched = opts.watch?.() ?? []
        watchStart = cpuMark(watched)
        machineStart = machineMark()
        stealStart = stealMark()
      } else if (msg.type === 'end') {
        const s = start
        if (s !== null) serverCpuByPid = pids.map((pid, i) => ({ pid, pct: cpuPct(s[i]!, cpuMark([pid])) }))
        if (watchStart !== null && watched.length > 0) watchedCpuPct = cpuPct(watchStart, cpuMark(watched))
        if (machineStart !== null) machineCpuPct = cpuPct(machineStart, machineMark())
        if (stealStart !== null) stealPct = cpuPct(stealStart, stealMark())
        loadCpuPct = msg.cpuPct
      } else if (msg.type === 'result') result = msg.result as R
      else failure = new Error(`load generator failed on ${job.url}: ${msg.message}`)
    })
    child.once('exit', (code) => {
      children.delete(child)
      const serverCpuPct = serverCpuByPid.length === 0 ? NaN : serverCpuByPid.reduce((sum, p) => sum + p.pct, 0)
      if (failure !== null) reject(failure)
      else if (result === null) reject(new Error(`load generator for ${job.url} exited with ${code} without a result`))
      else resolve({ result, serverCpuPct, serverCpuByPid, loadCpuPct, watchedCpuPct, machineCpuPct, stealPct })
    })
  })
}
