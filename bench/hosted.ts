// Hosted clouds benchmark: `npm run bench:hosted`. Everything runs on loopback against a private
// DHT (hyperdht/testnet through startPrivateDht); no node ever sees the public bootstrap.
//
// Setup     Three `bevy start` processes form a bevy (founder + 2 joiners on one invite, default
//           timings, --log-level warn). The founder creates a hosted cloud with 3 replicas
//           (POST /api/clouds {hosted:true, replicas:3}); the bench waits until every node's
//           GET /api/clouds/<key> lists exactly 3 placements, all `target` and `synced`. For the
//           baseline it also creates a hosted cloud with 1 replica and waits until every node
//           lists it on one synced target (the handoff, if any, gone). Then one warm-up PUT at
//           every replica, retried until 201 (a replica can be synced a moment before it is a
//           writer).
// Requests  Every read and write is addressed to one replica and carries `x-bevy-hop: <random
//           z32 key>` and `x-bevy-route: proxy`: the node answers from its own copy and takes a
//           write itself (no redirect, no proxying). The client is this process's fetch (undici,
//           keep-alive); redirects are never followed.
// Figures
//   write_rps_1kb    CONCURRENCY (16) PUT loops of 1 KiB bodies (random bytes), loop i at replica
//                    i % 3, each PUT to a fresh path, for DURATION_S (5) s. Rate = 201 answers that
//                    completed inside the window / window length; the per-second counts are printed.
//                    Every other status and every failed request is counted and printed.
//   write_mbps_10mb  BIG_COUNT (5) PUTs of 10 MiB bodies (distinct random bytes), one after another,
//                    at the founder's replica; MB/s = bytes / time from the first PUT's start to
//                    the last 201.
//   converge_p50/p99 CONVERGE_N (200) PUTs of 1 KiB, one at a time, at replica i % 3, each to a
//                    fresh path. From the moment the PUT's 201 arrives, all three replicas are
//                    polled in parallel (one GET loop per replica, POLL_MS (3) ms between a
//                    response and the next GET) until each has answered 200 with exactly the
//                    written bytes; converge = time of the last replica's matching answer. A
//                    write that has not converged after CONVERGE_TIMEOUT_MS counts as failed.
// Baselines, same run, same client:
//   write rps        the same PUT loops against the replicas=1 hosted cloud at its one replica:
//                    the write is acknowledged at once (no second copy awaited).
//   read rps         the same loops as GETs of one 1 KiB file from each replica's own copy.
//   10 MiB           the same sequence of PUTs into the replicas=1 cloud.
//   converge floor   the same parallel polling of a file that is already on all three replicas:
//                    the smallest converge time this method can show.
// MB = 2^20 bytes. Progress goes to stderr; stdout gets one line:
//   hosted: write_rps_1kb=.. write_mbps_10mb=.. converge_p50_ms=.. converge_p99_ms=..
// Settings: BENCH_HOSTED_DURATION_S / --duration-s, BENCH_HOSTED_CONCURRENCY / --concurrency,
// BENCH_HOSTED_BIG_COUNT / --big-count, BENCH_HOSTED_CONVERGE_N / --converge-n,
// BENCH_HOSTED_POLL_MS / --poll-ms.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type { CloudInfo } from '../node/bevy.js'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import type { StatusReport } from '../node/status.js'
import { formatKey } from '../protocol/index.js'
import { api } from './lib/bevy.js'
import { cpuMark, cpuPct, machineMark, type CpuMark } from './lib/cpu.js'
import { cleanUpOnSignal, envPositiveInt, envPositiveNumber, fmt, median, progress, ratio3, say, waitFor, withTimeout } from './lib/util.js'

const MB = 1024 * 1024
const KB = 1024

const { values: flags } = parseArgs({
  options: {
    'duration-s': { type: 'string' },
    concurrency: { type: 'string' },
    'big-count': { type: 'string' },
    'converge-n': { type: 'string' },
    'poll-ms': { type: 'string' }
  },
  strict: true
})
/** A flag wins over its environment variable, which wins over the default. */
function setting (flag: string | undefined, env: string, fallback: number, integer: boolean): number {
  if (flag === undefined) return integer ? envPositiveInt(env, fallback) : envPositiveNumber(env, fallback)
  const n = Number(flag)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`bad value "${flag}" for the flag of ${env}`)
  return n
}
const DURATION_S = setting(flags['duration-s'], 'BENCH_HOSTED_DURATION_S', 5, false)
const CONCURRENCY = setting(flags.concurrency, 'BENCH_HOSTED_CONCURRENCY', 16, true)
const BIG_COUNT = setting(flags['big-count'], 'BENCH_HOSTED_BIG_COUNT', 5, true)
const CONVERGE_N = setting(flags['converge-n'], 'BENCH_HOSTED_CONVERGE_N', 200, true)
const POLL_MS = setting(flags['poll-ms'], 'BENCH_HOSTED_POLL_MS', 3, false)

const SMALL_BYTES = KB
const BIG_BYTES = 10 * MB
const FLOOR_ROUNDS = 50
const CLUSTER_TIMEOUT_MS = 90_000
const SYNC_TIMEOUT_MS = 120_000
const WARMUP_TIMEOUT_MS = 60_000
const CONVERGE_TIMEOUT_MS = 30_000
const REQUEST_TIMEOUT_MS = 60_000
const SETTLE_MS = 2_000
const TARGETS = { convergeP50Ms: 100, convergeP99Ms: 1000 }

/** Makes the addressed node answer from its own copy and take a write itself (test/hosted-clouds.test.ts). */
const OWN_COPY = { 'x-bevy-hop': formatKey(randomBytes(32)), 'x-bevy-route': 'proxy' }

interface Created extends CloudInfo { token: string }
interface Replica { name: string, id: string, base: string, pid: number }

function nodeArgs (dht: PrivateDht, storage: string, extra: string[] = []): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap, '--log-level', 'warn', ...extra]
}

const pct = (sorted: number[], p: number) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!
const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b)
const statusTally = (m: Map<string, number>) => m.size === 0 ? 'none' : [...m].map(([k, v]) => `${k}×${v}`).join(', ')
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)

async function put (r: Replica, cloud: string, path: string, body: Uint8Array<ArrayBuffer>, token: string): Promise<Response> {
  return fetch(`${r.base}/c/${cloud}${path}`, {
    method: 'PUT', body, redirect: 'manual',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...OWN_COPY },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  })
}

async function get (r: Replica, cloud: string, path: string): Promise<{ status: number, body: Buffer, node: string | null }> {
  const res = await fetch(`${r.base}/c/${cloud}${path}`, { redirect: 'manual', headers: OWN_COPY, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const body = Buffer.from(await res.arrayBuffer())
  return { status: res.status, body, node: res.headers.get('x-bevy-node') }
}

/** The nodes `node` lists as synced targets of `key`, when the placement is exactly `count` of them. */
async function syncedTargets (node: ReadyMessage, key: string, count: number): Promise<string[] | null> {
  const info = await api<CloudInfo>(node, 'GET', `/api/clouds/${key}`)
  const targets = info.placement.filter((r) => r.role === 'target' && r.synced).map((r) => r.node)
  return targets.length === count && info.placement.length === count ? targets : null
}

// ---------- load loops ----------

interface RateResult {
  ok: number
  rps: number
  perSecond: number[]
  statuses: Map<string, number>
  latencies: number[]
  /** Requests still in flight when the window closed (answered after it; not counted). */
  late: number
  windowMs: number
}

/**
 * CONCURRENCY loops, loop i sending `request(i, n)` to `at(i)` until the window ends; counts the
 * answers with status `want` that completed inside the window.
 */
async function rateRun (at: (loop: number) => Replica, want: number, request: (r: Replica, loop: number, n: number) => Promise<Response>): Promise<RateResult> {
  const windowMs = DURATION_S * 1000
  const perSecond = new Array<number>(Math.ceil(DURATION_S)).fill(0)
  const statuses = new Map<string, number>()
  const latencies: number[] = []
  let ok = 0
  let late = 0
  const t0 = performance.now()
  const loops = Array.from({ length: CONCURRENCY }, async (_, loop) => {
    const r = at(loop)
    for (let n = 0; performance.now() - t0 < windowMs; n++) {
      const sent = performance.now()
      let status: string
      try {
        const res = await request(r, loop, n)
        await res.arrayBuffer()
        status = String(res.status)
      } catch (err) {
        status = `error(${err instanceof Error ? (err.cause as Error | undefined)?.message ?? err.message : String(err)})`
      }
      const done = performance.now()
      if (done - t0 > windowMs) {
        late++
        if (status !== String(want)) bump(statuses, status + ' (after the window)')
        break
      }
      if (status === String(want)) {
        ok++
        latencies.push(done - sent)
        const s = Math.floor((done - t0) / 1000)
        perSecond[s] = (perSecond[s] ?? 0) + 1
      } else bump(statuses, status)
    }
  })
  await Promise.all(loops)
  return { ok, rps: ok / DURATION_S, perSecond, statuses, latencies, late, windowMs }
}

interface BigResult { mbps: number, ms: number[], statuses: Map<string, number> }

const bigBodies = () => Array.from({ length: BIG_COUNT }, () => new Uint8Array(randomBytes(BIG_BYTES)))

async function bigRun (r: Replica, cloud: string, token: string, tag: string, bodies: Array<Uint8Array<ArrayBuffer>>): Promise<BigResult> {
  const statuses = new Map<string, number>()
  const ms: number[] = []
  let bytes = 0
  const t0 = performance.now()
  for (const [i, body] of bodies.entries()) {
    const sent = performance.now()
    const res = await put(r, cloud, `/big/${tag}-${i}.bin`, body, token)
    const text = await res.text()
    ms.push(performance.now() - sent)
    if (res.status === 201) bytes += body.byteLength
    else { bump(statuses, String(res.status)); progress(`10 MiB PUT ${i} at ${r.name}: ${res.status} ${text.slice(0, 200)}`) }
  }
  const elapsed = performance.now() - t0
  return { mbps: bytes / MB / (elapsed / 1000), ms, statuses }
}

// ---------- convergence ----------

interface PollTally { polls: number, statuses: Map<string, number>, notOwn: number }

/** Polls one replica until it serves `body` at `path`; the time (from `t0`) of the matching answer, or NaN. */
async function pollUntil (r: Replica, cloud: string, path: string, body: Buffer, t0: number, tally: PollTally): Promise<number> {
  while (performance.now() - t0 < CONVERGE_TIMEOUT_MS) {
    tally.polls++
    try {
      const got = await get(r, cloud, path)
      if (got.status === 200 && got.node !== null && got.node !== r.id) tally.notOwn++
      if (got.status === 200 && got.body.equals(body)) return performance.now() - t0
      bump(tally.statuses, got.status === 200 ? '200 (other bytes)' : String(got.status))
    } catch (err) {
      bump(tally.statuses, `error(${err instanceof Error ? err.message : String(err)})`)
    }
    await sleep(POLL_MS)
  }
  return NaN
}

interface ConvergeResult {
  all: number[]
  /** Per replica: time until it served the write, for the writes not made at it. */
  others: number[]
  /** Time until the replica that took the write served it. */
  writer: number[]
  ackMs: number[]
  failedPuts: Map<string, number>
  timedOut: number
  /** Polls of the two replicas that did not take the write. */
  tally: PollTally
  /** Polls of the replica that took the write (it answered 201, so it should already serve it). */
  writerTally: PollTally
}

async function convergeRun (replicas: Replica[], cloud: string, token: string): Promise<ConvergeResult> {
  const out: ConvergeResult = { all: [], others: [], writer: [], ackMs: [], failedPuts: new Map(), timedOut: 0, tally: { polls: 0, statuses: new Map(), notOwn: 0 }, writerTally: { polls: 0, statuses: new Map(), notOwn: 0 } }
  for (let i = 0; i < CONVERGE_N; i++) {
    const at = replicas[i % replicas.length]!
    const path = `/converge/${i}.bin`
    const body = randomBytes(SMALL_BYTES)
    const sent = performance.now()
    let res: Response
    try {
      res = await put(at, cloud, path, new Uint8Array(body), token)
    } catch (err) {
      bump(out.failedPuts, `error(${err instanceof Error ? err.message : String(err)})`)
      continue
    }
    const t0 = performance.now() // the 2xx (status and headers) is in
    const text = await res.text()
    if (res.status !== 201) {
      bump(out.failedPuts, String(res.status))
      progress(`converge PUT ${i} at ${at.name}: ${res.status} ${text.slice(0, 200)}`)
      continue
    }
    out.ackMs.push(t0 - sent)
    const times = await Promise.all(replicas.map((r) => pollUntil(r, cloud, path, body, t0, r === at ? out.writerTally : out.tally)))
    if (times.some((t) => Number.isNaN(t))) {
      out.timedOut++
      progress(`converge write ${i} (at ${at.name}): not on every replica after ${CONVERGE_TIMEOUT_MS} ms (${times.map((t, j) => `${replicas[j]!.name} ${fmt(t, 1)}`).join(', ')})`)
      continue
    }
    out.all.push(Math.max(...times))
    for (const [j, t] of times.entries()) (replicas[j] === at ? out.writer : out.others).push(t)
    if ((i + 1) % 50 === 0) progress(`converge: ${i + 1}/${CONVERGE_N} writes, p50 so far ${fmt(median(out.all), 1)} ms`)
  }
  return out
}

/** The same parallel polling of a file every replica already has: the method's floor. */
async function floorRun (replicas: Replica[], cloud: string, path: string, body: Buffer): Promise<number[]> {
  const tally: PollTally = { polls: 0, statuses: new Map(), notOwn: 0 }
  const out: number[] = []
  for (let i = 0; i < FLOOR_ROUNDS; i++) {
    const t0 = performance.now()
    const times = await Promise.all(replicas.map((r) => pollUntil(r, cloud, path, body, t0, tally)))
    out.push(Math.max(...times))
  }
  if (tally.statuses.size > 0) progress(`floor polling saw ${statusTally(tally.statuses)}`)
  return out
}

// ---------- CPU per phase ----------

interface CpuWindow { nodes: CpuMark[], bench: NodeJS.CpuUsage, machine: CpuMark, at: number }
const cpuStart = (pids: number[]): CpuWindow => ({ nodes: pids.map((p) => cpuMark([p])), bench: process.cpuUsage(), machine: machineMark(), at: performance.now() })
function cpuLine (w: CpuWindow, pids: number[]): string {
  const ms = performance.now() - w.at
  const u = process.cpuUsage(w.bench)
  const nodes = pids.map((p, i) => cpuPct(w.nodes[i]!, cpuMark([p])))
  const bench = (u.user + u.system) / 1000 / ms * 100
  const machine = cpuPct(w.machine, machineMark())
  const other = Math.max(0, machine - bench - nodes.reduce((a, b) => a + b, 0))
  return `CPU: nodes ${nodes.map((c) => fmt(c, 0) + ' %').join(', ')}; bench process (client + DHT) ${fmt(bench, 0)} %; ` +
    `anything else ${fmt(other, 0)} %; machine ${fmt(machine, 0)} % of ${cpus().length * 100} %`
}

// ---------- main ----------

async function main (): Promise<void> {
  progress(`hosted benchmark: ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
    `${CONCURRENCY} in flight for ${DURATION_S} s, ${BIG_COUNT} × 10 MiB, ${CONVERGE_N} convergence writes polled every ${POLL_MS} ms`)
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-hosted-'))
  const procs: NodeProcess[] = []
  let dht: PrivateDht | null = null
  let cleaned: Promise<void> | null = null
  const cleanup = () => (cleaned ??= (async () => {
    await Promise.allSettled(procs.map(async (p) => {
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000)
      await p.stop('SIGTERM')
      clearTimeout(timer)
    }))
    await dht?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  })())
  const release = cleanUpOnSignal(cleanup)
  try {
    dht = await startPrivateDht({ port: 0 })
    progress(`private DHT (hyperdht testnet) at ${dht.bootstrap}`)

    // A bevy of three node processes.
    const t0 = performance.now()
    procs.push(spawnNode(nodeArgs(dht, join(dir, 'n0')), { quiet: true }))
    const founder = await withTimeout(procs[0]!.ready, CLUSTER_TIMEOUT_MS, () => `the founder; its output:\n${procs[0]!.output().slice(-2000)}`)
    const { invite } = await api<{ invite: string }>(founder, 'POST', '/api/invites', { uses: 2 })
    for (let i = 1; i < 3; i++) procs.push(spawnNode(nodeArgs(dht, join(dir, `n${i}`), ['--join', invite]), { quiet: true }))
    const joiners = await Promise.all(procs.slice(1).map((p, i) =>
      withTimeout(p.ready, CLUSTER_TIMEOUT_MS, () => `joiner ${i + 1}; its output:\n${p.output().slice(-2000)}`)))
    const nodes = [founder, ...joiners]
    await waitFor('all 3 nodes to list 3 live nodes', CLUSTER_TIMEOUT_MS, async () => {
      const views = await Promise.all(nodes.map((n) => api<StatusReport>(n, 'GET', '/api/status').catch(() => null)))
      return views.every((v) => v !== null && v.nodes.length === 3 && v.nodes.every((n) => n.state === 'live'))
    }, 50)
    progress(`bevy of 3 nodes live after ${fmt(performance.now() - t0, 0)} ms`)
    const replicas: Replica[] = nodes.map((n, i) => ({ name: `n${i}`, id: n.id, base: n.url.replace(/\/$/, ''), pid: procs[i]!.child.pid as number }))
    const pids = replicas.map((r) => r.pid)

    // The hosted cloud under test (3 replicas) and the baseline one (1 replica).
    const t1 = performance.now()
    const cloud3 = await api<Created>(founder, 'POST', '/api/clouds', { hosted: true, replicas: 3 })
    if (!cloud3.hosted || cloud3.token === undefined) throw new Error(`POST /api/clouds did not create a hosted cloud: ${JSON.stringify(cloud3)}`)
    await waitFor('3 synced target replicas of the hosted cloud, as every node sees it', SYNC_TIMEOUT_MS, async () => {
      const seen = await Promise.all(nodes.map((n) => syncedTargets(n, cloud3.key, 3).catch(() => null)))
      return seen.every((s) => s !== null)
    }, 50)
    progress(`hosted cloud ${cloud3.key.slice(0, 12)}… (replicas 3): 3 synced targets on every node after ${fmt(performance.now() - t1, 0)} ms`)
    const t2 = performance.now()
    const cloud1 = await api<Created>(founder, 'POST', '/api/clouds', { hosted: true, replicas: 1 })
    let soleId = ''
    await waitFor('1 synced target of the baseline cloud, as every node sees it', SYNC_TIMEOUT_MS, async () => {
      const seen = await Promise.all(nodes.map((n) => syncedTargets(n, cloud1.key, 1).catch(() => null)))
      if (!seen.every((s) => s !== null && s[0] === seen[0]![0])) return false
      soleId = seen[0]![0]!
      return true
    }, 50)
    const sole = replicas.find((r) => r.id === soleId)
    if (sole === undefined) throw new Error(`the replicas=1 cloud's target ${soleId} is not one of the three nodes`)
    progress(`baseline hosted cloud ${cloud1.key.slice(0, 12)}… (replicas 1): on ${sole.name} after ${fmt(performance.now() - t2, 0)} ms`)

    // Warm-up: one accepted write at every replica (a replica may be synced a moment before it
    // is a writer), and the read that the read baseline and the floor use.
    const warm = async (r: Replica, cloud: string, token: string) => {
      const w0 = performance.now()
      const refused = new Map<string, number>()
      await waitFor(`a 201 for a PUT at ${r.name}`, WARMUP_TIMEOUT_MS, async () => {
        const res = await put(r, cloud, `/warm/${r.name}.bin`, new Uint8Array(randomBytes(SMALL_BYTES)), token).catch(() => null)
        const text = await res?.text()
        if (res?.status === 201) return true
        bump(refused, `${res?.status ?? 'error'} ${text?.slice(0, 80) ?? ''}`)
        return false
      }, 100)
      if (refused.size > 0) progress(`warm-up at ${r.name} (${cloud.slice(0, 8)}…): 201 after ${fmt(performance.now() - w0, 0)} ms; refused before: ${statusTally(refused)}`)
    }
    for (const r of replicas) await warm(r, cloud3.key, cloud3.token)
    await warm(sole, cloud1.key, cloud1.token)
    const probe = randomBytes(SMALL_BYTES)
    const probeRes = await put(replicas[0]!, cloud3.key, '/probe.bin', new Uint8Array(probe), cloud3.token)
    if (probeRes.status !== 201) throw new Error(`probe PUT: ${probeRes.status} ${await probeRes.text()}`)
    await probeRes.arrayBuffer()
    for (const r of replicas) {
      await waitFor(`${r.name} to serve the probe from its own copy`, 30_000, async () => {
        const got = await get(r, cloud3.key, '/probe.bin')
        if (got.status === 200 && got.node !== r.id) throw new Error(`${r.name} answered with X-Bevy-Node ${got.node}, not itself`)
        return got.status === 200 && got.body.equals(probe)
      }, 20)
    }
    progress(`every replica takes writes and serves its own copy; settling ${SETTLE_MS} ms`)
    await sleep(SETTLE_MS)

    // Smallest bodies: a pool of random 1 KiB bodies, reused (each PUT goes to its own path).
    const smallPool = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(SMALL_BYTES)))
    const smallBody = (loop: number, n: number) => smallPool[(loop * 7 + n) % smallPool.length]!

    // 1. 1 KiB PUT rate, 3 replicas, then the baselines.
    let cpu = cpuStart(pids)
    const write3 = await rateRun((loop) => replicas[loop % 3]!, 201, (r, loop, n) => put(r, cloud3.key, `/rps/${loop}/${n}.bin`, smallBody(loop, n), cloud3.token))
    progress(`PUT 1 KiB, replicas 3, spread over 3: ${fmt(write3.rps, 1)} 201/s (per second ${write3.perSecond.join(' ')}); latency p50 ${fmt(median(write3.latencies), 1)} ms, ` +
      `p99 ${fmt(pct(sortNum(write3.latencies), 99), 1)} ms; other answers: ${statusTally(write3.statuses)}; in flight at the end ${write3.late}`)
    progress('  ' + cpuLine(cpu, pids))
    await sleep(SETTLE_MS)
    cpu = cpuStart(pids)
    const write1 = await rateRun(() => sole, 201, (r, loop, n) => put(r, cloud1.key, `/rps/${loop}/${n}.bin`, smallBody(loop, n), cloud1.token))
    progress(`baseline PUT 1 KiB, replicas 1, at ${sole.name}: ${fmt(write1.rps, 1)} 201/s (per second ${write1.perSecond.join(' ')}); latency p50 ${fmt(median(write1.latencies), 1)} ms, ` +
      `p99 ${fmt(pct(sortNum(write1.latencies), 99), 1)} ms; other answers: ${statusTally(write1.statuses)}; in flight at the end ${write1.late}`)
    progress('  ' + cpuLine(cpu, pids))
    await sleep(SETTLE_MS)
    cpu = cpuStart(pids)
    const read3 = await rateRun((loop) => replicas[loop % 3]!, 200, (r) => fetch(`${r.base}/c/${cloud3.key}/probe.bin`, { redirect: 'manual', headers: OWN_COPY, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))
    progress(`baseline GET 1 KiB, own copy, spread over 3: ${fmt(read3.rps, 1)} 200/s (per second ${read3.perSecond.join(' ')}); latency p50 ${fmt(median(read3.latencies), 1)} ms, ` +
      `p99 ${fmt(pct(sortNum(read3.latencies), 99), 1)} ms; other answers: ${statusTally(read3.statuses)}; in flight at the end ${read3.late}`)
    progress('  ' + cpuLine(cpu, pids))
    await sleep(SETTLE_MS)

    // 2. 10 MiB PUTs at one replica, then the replicas=1 baseline.
    let bodies = bigBodies()
    cpu = cpuStart(pids)
    const big3 = await bigRun(replicas[0]!, cloud3.key, cloud3.token, 'r3', bodies)
    progress(`PUT 10 MiB × ${BIG_COUNT} at n0, replicas 3: ${fmt(big3.mbps, 1)} MB/s (each ${big3.ms.map((m) => fmt(m, 0)).join(', ')} ms); non-201: ${statusTally(big3.statuses)}`)
    progress('  ' + cpuLine(cpu, pids))
    await sleep(SETTLE_MS)
    bodies = bigBodies()
    cpu = cpuStart(pids)
    const big1 = await bigRun(sole, cloud1.key, cloud1.token, 'r1', bodies)
    progress(`baseline PUT 10 MiB × ${BIG_COUNT} at ${sole.name}, replicas 1: ${fmt(big1.mbps, 1)} MB/s (each ${big1.ms.map((m) => fmt(m, 0)).join(', ')} ms); non-201: ${statusTally(big1.statuses)}`)
    progress('  ' + cpuLine(cpu, pids))
    await sleep(SETTLE_MS)

    // 3. Convergence, and the polling floor.
    const floor = sortNum(await floorRun(replicas, cloud3.key, '/probe.bin', probe))
    progress(`converge floor (file already on all 3, same polling): p50 ${fmt(pct(floor, 50), 2)} ms, p99 ${fmt(pct(floor, 99), 2)} ms`)
    cpu = cpuStart(pids)
    const conv = await convergeRun(replicas, cloud3.key, cloud3.token)
    progress('  ' + cpuLine(cpu, pids))
    const all = sortNum(conv.all)
    const others = sortNum(conv.others)
    const writer = sortNum(conv.writer)
    const ack = sortNum(conv.ackMs)
    const p50 = pct(all, 50)
    const p99 = pct(all, 99)

    // Report.
    say()
    say(`write 1 KiB, ${CONCURRENCY} in flight, ${DURATION_S} s: replicas 3 (spread over 3) ${fmt(write3.rps, 1)}/s | baseline replicas 1 (one node, no second copy awaited) ` +
      `${fmt(write1.rps, 1)}/s, ratio ${ratio3(write3.rps, write1.rps)} | baseline GET own copy ${fmt(read3.rps, 1)}/s, ratio ${ratio3(write3.rps, read3.rps)}`)
    say(`write 10 MiB × ${BIG_COUNT} sequential at one replica: replicas 3 ${fmt(big3.mbps, 1)} MB/s | baseline replicas 1 ${fmt(big1.mbps, 1)} MB/s, ratio ${ratio3(big3.mbps, big1.mbps)}`)
    say(`converge (201 -> all 3 replicas serve the bytes), ${all.length}/${CONVERGE_N} writes: p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms, max ${fmt(all[all.length - 1] ?? NaN, 1)} ms | ` +
      `floor (already everywhere) p50 ${fmt(pct(floor, 50), 2)} ms, p99 ${fmt(pct(floor, 99), 2)} ms, ratio p50 ${ratio3(p50, pct(floor, 50))}, p99 ${ratio3(p99, pct(floor, 99))}`)
    say(`  the two other replicas: p50 ${fmt(pct(others, 50), 2)} ms, p99 ${fmt(pct(others, 99), 2)} ms; the replica that took the write: p50 ${fmt(pct(writer, 50), 2)} ms, p99 ${fmt(pct(writer, 99), 2)} ms; ` +
      `PUT to 201: p50 ${fmt(pct(ack, 50), 1)} ms, p99 ${fmt(pct(ack, 99), 1)} ms`)
    say(`  polls of the other replicas ${conv.tally.polls} (non-matching: ${statusTally(conv.tally.statuses)}; answered by another node: ${conv.tally.notOwn}); ` +
      `polls of the writing replica ${conv.writerTally.polls} (non-matching: ${statusTally(conv.writerTally.statuses)}; answered by another node: ${conv.writerTally.notOwn})`)
    say(`  failed PUTs: ${statusTally(conv.failedPuts)}; not converged within ${CONVERGE_TIMEOUT_MS} ms: ${conv.timedOut}`)
    const verdict = (v: number, goal: number) => Number.isFinite(v) ? (v <= goal ? 'MET' : 'MISSED') : 'NA'
    say(`targets: converge_p50_ms ${fmt(p50, 1)} <= ${TARGETS.convergeP50Ms} ${verdict(p50, TARGETS.convergeP50Ms)}; ` +
      `converge_p99_ms ${fmt(p99, 1)} <= ${TARGETS.convergeP99Ms} ${verdict(p99, TARGETS.convergeP99Ms)} (loopback)`)
    say()
    process.stdout.write(`hosted: write_rps_1kb=${fmt(write3.rps, 1)} write_mbps_10mb=${fmt(big3.mbps, 1)} converge_p50_ms=${fmt(p50, 1)} converge_p99_ms=${fmt(p99, 1)}\n`)
  } finally {
    release()
    await cleanup()
  }
}

main().catch((err) => {
  process.stderr.write(`bench:hosted failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
