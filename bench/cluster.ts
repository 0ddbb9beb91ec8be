// Cluster benchmark: `npm run bench:cluster`. Everything runs on loopback against a private DHT.
//
// What it measures, and how:
//   join        3 and 10 `bevy start` processes. The founder is spawned first; once it is ready an
//               invite for the rest is made over its admin API and the joiners are spawned one
//               after another (each once the previous is ready), so the figure is join latency and
//               not the CPU contention of many processes loading modules at once on 2 cores.
//               join = spawn of a joiner -> its `ready` IPC message (writable in the bevy, serving
//               HTTP). all-see-all = last joiner ready -> every node lists N nodes in /api/status
//               (polled every 25 ms). The headline join_ms is the p50 over the joiners of both
//               sizes. Baselines, one process at a time: spawn -> first IPC message of a bare
//               `node -e`, and of one that first imports the bevy CLI modules (startup floor).
//   propagation 3 in-process Bevy instances (heartbeats every 60 s so they stay out of the way).
//               Node A appends a heartbeat op with a fresh seq; for each of B and C we time from
//               just before the append until that node's Bevy emits 'update' with the new seq in its
//               snapshot. 200 samples, 20 ms apart, after 10 warm-up ones. Baseline: one append on a
//               bare Hypercore replicated to a second Corestore over a loopback TCP socket, until
//               the replica has the block (same sample count and gap).
//   idle        A 3-node cluster of processes at default settings (heartbeat every 2000 ms), left
//               alone for BENCH_IDLE_MS (default 60000) after a settle period. CPU = utime+stime
//               from /proc/<pid>/stat over the window (% of one core); RSS = VmRSS at the end.
//               Baseline: a bare `node -e "setInterval(()=>{},1000)"` over the same window.
//   disk        Growth of <storage>/corestore (recursive, nothing excluded) of each of those 3
//               nodes over the same idle window, extrapolated to one hour. Corestore (RocksDB)
//               preallocates its WAL (~78 MB allocated right after start), so absolute size says
//               nothing; only growth between two points after startup is measured. Both apparent
//               bytes (st_size, `du --apparent-size -b`) and allocated bytes (st_blocks*512, `du`)
//               are shown; the headline figure is apparent bytes, because preallocated WAL blocks
//               hide writes from the allocated count. Within a short window nearly all of that
//               growth is the RocksDB WAL, i.e. bytes written; what stays on disk once RocksDB
//               flushes and compacts (overwritten keys dropped) can be less.
// MB in this file means 2^20 bytes.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import Corestore from 'corestore'
import { Bevy } from '../node/bevy.js'
import { adminRequest } from '../node/cli/admin-client.js'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'
import { defaultConfig } from '../node/config.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { paths, readAdminToken } from '../node/storage.js'
import { EMPTY_LOAD, OpType } from '../protocol/index.js'

const IDLE_MS = envInt('BENCH_IDLE_MS', 60_000)
const SETTLE_MS = 5_000
const DEFAULT_HEARTBEAT_MS = 2_000
const PROPAGATION_SAMPLES = 200
const PROPAGATION_WARMUP = 10
const SAMPLE_GAP_MS = 20
const POLL_MS = 25
const CONVERGE_TIMEOUT_MS = 120_000
const MB = 1024 * 1024

const TARGETS = { joinMs: 1500, propagateP50Ms: 50, propagateP99Ms: 250, idleCpuPct: 1, rssMb: 120 }

// ---------- small helpers ----------

function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return n
}

function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number
}

const median = (values: number[]) => percentile(values, 50)
const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : 'n/a'
const ratio = (value: number, base: number) => base > 0 ? `${fmt(value / base, 1)}x baseline` : 'baseline ~0, no ratio'
const targetRow = (name: string, value: string, target: string, ok: boolean) =>
  log(`  ${name.padEnd(16)} ${value.padStart(9)}  target ${target.padEnd(9)} ${ok ? 'PASS' : 'MISS'}`)
const log = (line = '') => process.stdout.write(line + '\n')
/** Progress goes to stderr so that stdout holds only the report. */
const progress = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)

/** Rejects if `promise` has not settled within `ms`. */
async function withTimeout<T> (promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms)
  })
  try { return await Promise.race([promise, timeout]) } finally { clearTimeout(timer) }
}

async function waitFor (what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}

// ---------- /proc and disk ----------

const CLK_TCK = clockTicks()

function clockTicks (): number {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch { return 100 }
}

interface ProcSample { cpuSeconds: number, rssBytes: number, at: number }

function procSample (pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is field 3 (state)
  const ticks = Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14 and 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN)
  return { cpuSeconds: ticks / CLK_TCK, rssBytes: rssKb * 1024, at: performance.now() }
}

/** CPU use between two samples, in % of one core. */
function cpuPercent (a: ProcSample, b: ProcSample): number {
  return (b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000) * 100
}

interface DirSize { apparent: number, allocated: number }

/** Recursive size of a directory like `du`: apparent bytes and allocated bytes. */
async function dirSize (dir: string): Promise<DirSize> {
  const total: DirSize = { apparent: 0, allocated: 0 }
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return total }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      const sub = await dirSize(path)
      total.apparent += sub.apparent
      total.allocated += sub.allocated
      continue
    }
    try {
      const st = await lstat(path)
      total.apparent += st.size
      total.allocated += st.blocks * 512
    } catch {} // RocksDB may delete a file between readdir and lstat
  }
  return total
}

// ---------- baselines: a bare node process ----------

/** Spawns a bare node process with an IPC channel running `code`. */
function bareNode (code: string): ChildProcess {
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

const CLI_MODULE = new URL('../node/cli/main.js', import.meta.url).href

/** Spawn -> first IPC message of a node process running `code`; median of a few runs, one at a time. */
async function measureStartup (code: string, runs = 5): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    const child = bareNode(code)
    await new Promise((resolve) => child.once('message', resolve))
    times.push(performance.now() - t0)
    await stopChild(child)
  }
  return median(times)
}

// ---------- process clusters: join and all-see-all ----------

interface ProcessCluster {
  size: number
  nodes: NodeProcess[]
  ready: ReadyMessage[]
  founderMs: number
  /** Spawn -> ready, one per joiner. */
  joinMs: number[]
  /** Joiners' spawn -> every node lists `size` nodes in /api/status. */
  allSeeAllMs: number
  stop (): Promise<void>
}

function nodeArgs (dht: PrivateDht, storage: string, extra: string[] = []): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap, '--log-level', 'warn', ...extra]
}

async function tokenOf (storage: string): Promise<string> {
  const token = await readAdminToken(storage)
  if (token === null) throw new Error(`no admin token in ${storage}`)
  return token
}

async function listedNodes (node: ReadyMessage): Promise<number> {
  const target = { url: node.url, token: await tokenOf(node.storage) }
  const status = await adminRequest<{ nodes: unknown[] }>(target, 'GET', '/api/status')
  return status.nodes.length
}

async function startProcessCluster (dht: PrivateDht, dir: string, size: number): Promise<ProcessCluster> {
  const nodes: NodeProcess[] = []
  const stop = async () => { await Promise.all(nodes.map((n) => n.stop('SIGTERM'))) }
  try {
    const storage = (i: number) => join(dir, `cluster${size}-node${i}`)
    const t0 = performance.now()
    nodes.push(spawnNode(nodeArgs(dht, storage(0)), { quiet: true }))
    const founder = await withTimeout(nodes[0]!.ready, CONVERGE_TIMEOUT_MS, () => `the founder; its output:\n${nodes[0]!.output().slice(-1000)}`)
    const founderMs = performance.now() - t0

    const target = { url: founder.url, token: await tokenOf(founder.storage) }
    const { invite } = await adminRequest<{ invite: string }>(target, 'POST', '/api/invites', { uses: size - 1, ttlMs: 3600_000 })
    // Joiners start one after another: on 2 cores, spawning nine Node processes at once measures
    // CPU contention during module loading (each costs ~0.5 s of CPU), not how fast a join is.
    const joinMs: number[] = []
    for (let i = 1; i < size; i++) {
      const t1 = performance.now()
      const n = spawnNode(nodeArgs(dht, storage(i), ['--join', invite]), { quiet: true })
      nodes.push(n)
      await withTimeout(n.ready, CONVERGE_TIMEOUT_MS, () => `joiner ${i}; its output:\n${n.output().slice(-1000)}`)
      joinMs.push(performance.now() - t1)
    }
    const ready = await Promise.all(nodes.map((n) => n.ready))
    progress(`${size}-node cluster: all writable, waiting until all see all`)

    const t2 = performance.now()
    await waitFor(`all ${size} nodes to see each other`, CONVERGE_TIMEOUT_MS,
      async () => (await Promise.all(ready.map(listedNodes))).every((count) => count === size))
    const allSeeAllMs = performance.now() - t2
    return { size, nodes, ready, founderMs, joinMs, allSeeAllMs, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

// ---------- idle cost and disk growth of a 3-node cluster ----------

interface IdleResult {
  windowMs: number
  cpuPct: number[]
  rssBytes: number[]
  baselineCpuPct: number
  baselineRssBytes: number
  /** Corestore growth over the window per node. */
  growth: DirSize[]
  /** Allocated corestore size per node at the start of the window (shows the preallocation). */
  allocatedAtStart: number[]
}

async function measureIdle (cluster: ProcessCluster, windowMs: number): Promise<IdleResult> {
  const baseline = bareNode('setInterval(() => {}, 1000)')
  try {
    await sleep(SETTLE_MS) // let startup work (and the baseline's own startup) finish first
    const pids = cluster.nodes.map((n) => n.child.pid as number)
    const stores = cluster.ready.map((r) => paths(r.storage).corestore)
    const before = { procs: pids.map(procSample), base: procSample(baseline.pid as number), disk: await Promise.all(stores.map(dirSize)) }
    await sleep(windowMs)
    const after = { procs: pids.map(procSample), base: procSample(baseline.pid as number), disk: await Promise.all(stores.map(dirSize)) }
    return {
      windowMs: after.base.at - before.base.at,
      cpuPct: pids.map((_, i) => cpuPercent(before.procs[i]!, after.procs[i]!)),
      rssBytes: after.procs.map((p) => p.rssBytes),
      baselineCpuPct: cpuPercent(before.base, after.base),
      baselineRssBytes: after.base.rssBytes,
      growth: stores.map((_, i) => ({
        apparent: after.disk[i]!.apparent - before.disk[i]!.apparent,
        allocated: after.disk[i]!.allocated - before.disk[i]!.allocated
      })),
      allocatedAtStart: before.disk.map((d) => d.allocated)
    }
  } finally {
    await stopChild(baseline)
  }
}

// ---------- view propagation in-process ----------

function newBevy (dht: PrivateDht, storage: string, join: string | null): Bevy {
  const config = defaultConfig({
    storage,
    bootstrap: [{ host: dht.host, port: dht.port }],
    join,
    heartbeatIntervalMs: 60_000,
    suspectAfterMs: 120_000,
    downAfterMs: 300_000
  })
  return new Bevy({ config, url: 'http://127.0.0.1:1' })
}

const heartbeatSeq = (node: Bevy, hexId: string) => node.snapshot.byId.get(hexId)?.heartbeat?.seq ?? 0

/** Resolves with performance.now() when `node`'s view holds heartbeat `seq` of node `hexId`. */
function whenSeen (node: Bevy, hexId: string, seq: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer)
      node.off('update', check)
      if (err === undefined) resolve(performance.now())
      else reject(err)
    }
    const check = () => { if (heartbeatSeq(node, hexId) >= seq) done() }
    const timer = setTimeout(() => done(new Error(`heartbeat ${seq} not seen within ${timeoutMs} ms`)), timeoutMs)
    node.on('update', check)
  })
}

/** One sample: A appends heartbeat `seq`; ms until each other node's view shows it. */
async function propagationSample (a: Bevy, others: Bevy[], seq: number): Promise<number[]> {
  const hexA = a.id.toString('hex')
  const seen = others.map((o) => whenSeen(o, hexA, seq))
  const t0 = performance.now()
  await a.clusterLog.append({ type: OpType.HEARTBEAT, nodeId: a.id, seq, clockMs: Date.now(), load: { ...EMPTY_LOAD } })
  return (await Promise.all(seen)).map((t) => t - t0)
}

async function measurePropagation (dht: PrivateDht, dir: string): Promise<number[]> {
  const a = newBevy(dht, join(dir, 'prop-a'), null)
  const nodes = [a]
  try {
    await a.ready()
    const invite = await a.createInvite({ uses: 9, ttlMs: 3600_000 })
    const others = [newBevy(dht, join(dir, 'prop-b'), invite.text), newBevy(dht, join(dir, 'prop-c'), invite.text)]
    nodes.push(...others)
    await Promise.all(others.map((o) => o.ready()))
    await waitFor('3 in-process nodes to see each other', CONVERGE_TIMEOUT_MS, () => nodes.every((n) => n.snapshot.byId.size === 3))

    let seq = heartbeatSeq(a, a.id.toString('hex')) + 1000 // well above A's own heartbeats
    const samples: number[] = []
    for (let i = 0; i < PROPAGATION_WARMUP + PROPAGATION_SAMPLES; i++) {
      const ms = await propagationSample(a, others, ++seq)
      if (i >= PROPAGATION_WARMUP) samples.push(...ms)
      await sleep(SAMPLE_GAP_MS)
    }
    return samples
  } finally {
    for (const n of nodes.reverse()) await n.close()
  }
}

// ---------- baseline: raw hypercore replication over loopback TCP ----------

/** The part of a Hypercore this benchmark uses (types/holepunch.d.ts declares less). */
interface RawCore {
  key: Buffer
  length: number
  ready (): Promise<void>
  append (block: Buffer): Promise<unknown>
  get (index: number): Promise<Buffer | null>
}

function pipeReplication (socket: Socket, store: Corestore, initiator: boolean): void {
  const stream = store.replicate(initiator)
  socket.setNoDelay(true) // as UDX does; with Nagle + delayed ACK every sample would read ~40 ms
  socket.on('error', () => {})
  stream.on('error', () => {})
  socket.pipe(stream).pipe(socket)
}

async function measureRawReplication (dir: string): Promise<number[]> {
  const storeA = new Corestore(join(dir, 'raw-a'))
  const storeB = new Corestore(join(dir, 'raw-b'))
  const sockets: Socket[] = []
  let server: Server | null = null
  try {
    const coreA = storeA.get({ name: 'bench' }) as unknown as RawCore
    await coreA.ready()
    const coreB = storeB.get({ key: coreA.key }) as unknown as RawCore
    await coreB.ready()

    server = createServer((socket) => { sockets.push(socket); pipeReplication(socket, storeA, false) })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    const client = connect(port, '127.0.0.1')
    sockets.push(client)
    pipeReplication(client, storeB, true)

    const block = Buffer.alloc(64) // about the size of an encoded heartbeat op
    const samples: number[] = []
    for (let i = 0; i < PROPAGATION_WARMUP + PROPAGATION_SAMPLES; i++) {
      const replicated = coreB.get(coreA.length)
      const t0 = performance.now()
      await coreA.append(block)
      await replicated
      if (i >= PROPAGATION_WARMUP) samples.push(performance.now() - t0)
      await sleep(SAMPLE_GAP_MS)
    }
    return samples
  } finally {
    for (const s of sockets) s.destroy()
    if (server !== null) await new Promise((resolve) => server!.close(resolve))
    await storeB.close()
    await storeA.close()
  }
}

// ---------- report ----------

/** `loadMs`: spawn -> bevy modules loaded, the part of a join that is not pairing. */
function reportJoin (c: ProcessCluster, loadMs: number): void {
  log(`${c.size} nodes:`)
  log(`  founder spawn -> writable       ${fmt(c.founderMs, 0)} ms`)
  log(`  joiner spawn -> writable (join) p50 ${fmt(median(c.joinMs), 0)} ms, max ${fmt(Math.max(...c.joinMs), 0)} ms  (${ratio(median(c.joinMs), loadMs)} of spawn+module load)`)
  log(`  last joiner ready -> all see all  ${fmt(c.allSeeAllMs, 0)} ms`)
}

function reportIdle (idle: IdleResult): { cpuPct: number, rssMb: number, diskMbPerHour: number } {
  const perHour = 3600_000 / idle.windowMs
  const cpuPct = Math.max(...idle.cpuPct)
  const rssMb = Math.max(...idle.rssBytes) / MB
  const meanGrowth = (key: keyof DirSize) => idle.growth.reduce((s, g) => s + g[key], 0) / idle.growth.length
  const diskMbPerHour = meanGrowth('apparent') * perHour / MB
  const heartbeatsInWindow = idle.growth.length * idle.windowMs / DEFAULT_HEARTBEAT_MS
  log(`idle 3-node cluster, default heartbeat ${DEFAULT_HEARTBEAT_MS} ms, window ${fmt(idle.windowMs / 1000, 1)} s after ${SETTLE_MS / 1000} s settle:`)
  log(`  CPU per node        ${idle.cpuPct.map((p) => fmt(p, 2) + ' %').join(', ')}  (headline: the highest)`)
  log(`  RSS per node        ${idle.rssBytes.map((b) => fmt(b / MB, 1) + ' MB').join(', ')}`)
  log(`  bare node baseline  CPU ${fmt(idle.baselineCpuPct, 2)} %, RSS ${fmt(idle.baselineRssBytes / MB, 1)} MB`)
  log(`  node vs baseline    CPU ${ratio(cpuPct, idle.baselineCpuPct)}, RSS ${ratio(rssMb, idle.baselineRssBytes / MB)}`)
  log(`disk (growth of <storage>/corestore over the window; RocksDB preallocates its WAL, so absolute size is not used):`)
  log(`  allocated at window start  ${idle.allocatedAtStart.map((b) => fmt(b / MB, 1) + ' MB').join(', ')}`)
  log(`  apparent growth            ${idle.growth.map((g) => fmt(g.apparent / 1024, 1) + ' KB').join(', ')}  -> mean ${fmt(diskMbPerHour, 2)} MB/node/hour`)
  log(`  allocated growth           ${idle.growth.map((g) => fmt(g.allocated / 1024, 1) + ' KB').join(', ')}  -> mean ${fmt(meanGrowth('allocated') * perHour / MB, 2)} MB/node/hour`)
  log(`  per heartbeat written      ${fmt(meanGrowth('apparent') / heartbeatsInWindow, 0)} bytes on each node (≈${fmt(heartbeatsInWindow, 0)} heartbeats cluster-wide in the window)`)
  return { cpuPct, rssMb, diskMbPerHour }
}

function reportPropagation (samples: number[], raw: number[]): { p50: number, p99: number } {
  const p50 = percentile(samples, 50)
  const p99 = percentile(samples, 99)
  log(`view propagation (3 in-process nodes, ${samples.length} observations = ${PROPAGATION_SAMPLES} appends x 2 receivers):`)
  log(`  p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(Math.max(...samples), 1)} ms`)
  log(`  raw hypercore append -> replica over loopback TCP: p50 ${fmt(percentile(raw, 50), 2)} ms, p99 ${fmt(percentile(raw, 99), 2)} ms`)
  log(`  vs raw hypercore    p50 ${ratio(p50, percentile(raw, 50))}, p99 ${ratio(p99, percentile(raw, 99))}`)
  return { p50, p99 }
}

// ---------- main ----------

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-'))
  const dht = await startPrivateDht({ port: 0 })
  log(`cluster benchmark: ${cpus().length} cores, node ${process.version}, private DHT ${dht.bootstrap}, idle window ${IDLE_MS} ms`)
  try {
    const startup = {
      bare: await measureStartup('process.send("ready")'),
      modules: await measureStartup(`import(${JSON.stringify(CLI_MODULE)}).then(() => process.send("ready"))`)
    }
    progress('process startup baselines measured')

    const small = await startProcessCluster(dht, dir, 3)
    let idle: IdleResult
    progress(`3-node cluster up; idle window of ${IDLE_MS} ms after ${SETTLE_MS} ms settle`)
    try { idle = await measureIdle(small, IDLE_MS) } finally { await small.stop() }
    const big = await startProcessCluster(dht, dir, 10)
    await big.stop()
    progress('10-node cluster measured and stopped; measuring propagation in-process')

    const propagation = await measurePropagation(dht, dir)
    progress('propagation measured; measuring raw hypercore replication')
    const raw = await measureRawReplication(dir)

    log()
    log(`baselines (one process at a time): spawn -> first IPC message of a bare node ${fmt(startup.bare, 0)} ms; ` +
      `of a node that first loads the bevy CLI modules ${fmt(startup.modules, 0)} ms`)
    reportJoin(small, startup.modules)
    reportJoin(big, startup.modules)
    const joinMs = median([...small.joinMs, ...big.joinMs])
    log(`join p50 over all ${small.joinMs.length + big.joinMs.length} joiners: ${fmt(joinMs, 0)} ms`)
    const { p50, p99 } = reportPropagation(propagation, raw)
    const { cpuPct, rssMb, diskMbPerHour } = reportIdle(idle)

    log()
    log('targets:')
    targetRow('join p50', `${fmt(joinMs, 0)} ms`, `< ${TARGETS.joinMs} ms`, joinMs < TARGETS.joinMs)
    targetRow('propagation p50', `${fmt(p50, 1)} ms`, `< ${TARGETS.propagateP50Ms} ms`, p50 < TARGETS.propagateP50Ms)
    targetRow('propagation p99', `${fmt(p99, 1)} ms`, `< ${TARGETS.propagateP99Ms} ms`, p99 < TARGETS.propagateP99Ms)
    targetRow('idle CPU', `${fmt(cpuPct, 2)} %`, `< ${TARGETS.idleCpuPct} %`, cpuPct < TARGETS.idleCpuPct)
    targetRow('RSS', `${fmt(rssMb, 1)} MB`, `< ${TARGETS.rssMb} MB`, rssMb < TARGETS.rssMb)
    log()
    log(`cluster: join_ms=${fmt(joinMs, 0)} propagate_p50_ms=${fmt(p50, 1)} propagate_p99_ms=${fmt(p99, 1)} ` +
      `idle_cpu_pct=${fmt(cpuPct, 2)} rss_mb=${fmt(rssMb, 1)} disk_mb_per_hour=${fmt(diskMbPerHour, 2)}`)
  } finally {
    await dht.close()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  process.stderr.write(`bench:cluster failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
