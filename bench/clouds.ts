// Clouds benchmark: `npm run bench:clouds`. Everything runs on loopback against a private DHT.
//
// What it measures, and how:
//   sync      The bench process is the owner: it writes one Hyperdrive (small.txt 1 KiB, big.bin
//             50 MiB, fill.bin 50 MiB, random bytes) into its own Corestore before any timing and
//             seeds it on a Hyperswarm joined to the private DHT. Two `bevy start` processes form a
//             bevy (founder + one joiner, --sync-progress-interval-ms 100). Clock: from just before
//             POST /api/clouds {key, replicas: 2} until GET /api/clouds/<key> (polled every 50 ms)
//             shows both target replicas `synced` with bytes.had === bytes.total > 0, where
//             bytes.total must also equal the owner drive's bytes and version must be >= its
//             version (a replica can say `synced` for a moment before it knows the blob core's
//             length; such sightings are logged and do not stop the clock). MB/s = the cloud's bytes
//             (drive db core + blob core byteLength, what bytes.total counts) / time.
//             Baseline: `/bin/cp` of a file of the same number of bytes, in the same temp dir on the
//             same filesystem (source just written, so in the page cache; no fsync), median of 3.
//   rps       GET of small.txt (1 KiB) with autocannon, 10 connections, 1 s warm-up then 5 s
//             measured, req/s = autocannon's mean of the per-second counts. The load generator is a
//             separate process (bench/lib/load-child, forked) from every server under test. Servers:
//               bevy        the founder node, a synced replica, at /c/<cloud>/small.txt (checked
//                           once: 200, X-Bevy-Node = that node's id, same bytes; not a redirect)
//               serve-drive npm `serve-drive` in its own process, serving a Hyperdrive in its own
//                           Corestore into which the same three files were written (same bytes,
//                           same order), token off
//               nginx       1 worker, access_log off, sendfile on, keep-alive, same files from a
//                           temp dir (skipped, NA, when nginx is not installed)
//   MB/s      Full sequential GETs of big.bin (50 MiB) over one keep-alive connection from the
//             load process: 1 warm-up GET, then GETs until 5 s have passed; MB/s = body bytes /
//             time (ends on a whole response). Each response's length is checked.
//   CPU       For each load run, utime+stime over the measured window of the server process(es)
//             (from /proc) and of the load generator, in % of one core, to show which side was the
//             bottleneck. Both bevy nodes stay up (idle) during every server's runs.
// MB in this file means 2^20 bytes. Progress and the tables go to stderr; stdout gets one line.
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import type { CloudInfo } from '../node/bevy.js'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { formatKey } from '../protocol/index.js'
import { api } from './lib/bevy.js'
import { childPids, cpuMark, cpuPct, machineMark } from './lib/cpu.js'
import { runLoad, type BigResult, type LoadRun, type RpsResult } from './lib/load.js'
import { findNginx, startNginx } from './lib/nginx.js'
import { cleanUpOnSignal, fmt, median, progress, ratio3, say, waitFor, withTimeout } from './lib/util.js'

const MB = 1024 * 1024
const SMALL_BYTES = 1024
const BIG_BYTES = 50 * MB
const FILL_BYTES = 50 * MB
const CP_RUNS = 3
const SYNC_POLL_MS = 50
const SYNC_TIMEOUT_MS = 180_000
const CLUSTER_TIMEOUT_MS = 60_000
const SETTLE_MS = 3_000
const RPS = { connections: 10, warmupS: 1, durationS: 5 }
const BIG = { warmupRequests: 1, durationS: 5 }
const TARGETS = { syncVsCp: 0.5, rpsVsServeDrive: 1.5, rpsVsNginx: 0.5 }

const SELF = fileURLToPath(import.meta.url)

// ---------- child mode: serve-drive ----------

const FILES = ['small.txt', 'big.bin', 'fill.bin'] as const

async function serveDriveChild (www: string, storage: string): Promise<void> {
  const { default: ServeDrive } = await import('serve-drive')
  const store = new Corestore(storage)
  const drive = new Hyperdrive(store.namespace('bench'))
  await drive.ready()
  for (const name of FILES) await drive.put('/' + name, await readFile(join(www, name)))
  const serve = new ServeDrive({ get: () => drive, host: '127.0.0.1', port: 0, anyPort: true, token: false })
  await serve.ready()
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await serve.close()
    await drive.close()
    await store.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => { stop().catch(() => process.exit(1)) })
  process.once('disconnect', () => { stop().catch(() => process.exit(1)) })
  process.send!({ type: 'listening', port: serve.address()!.port })
}

// ---------- nginx ----------

/** nginx serving the same files from `www` as static files, sendfile on. */
function startStaticNginx (bin: string, prefix: string, www: string, children: Set<ChildProcess>) {
  return startNginx(bin, prefix, {
    probePath: '/small.txt',
    http: (port) => `  sendfile on;
  tcp_nopush on;
  types { text/plain txt; application/octet-stream bin; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${www};
  }`
  }, children)
}

// ---------- bevy nodes ----------

function nodeArgs (dht: PrivateDht, storage: string, extra: string[] = []): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap,
    '--log-level', 'warn', '--sync-progress-interval-ms', '100', ...extra]
}

/** Targets that say they are synced: state `synced` and bytes.had === bytes.total > 0. */
const saysSynced = (info: CloudInfo) => info.placement.filter((r) =>
  r.role === 'target' && r.state === 'synced' && r.bytes.total > 0 && r.bytes.had === r.bytes.total)

/**
 * Targets that are synced to the owner's drive as written: they must also count all of its bytes
 * and be at its version. A replica that has opened the blob core but not yet learned its length
 * can briefly say `synced` with only the metadata core's bytes; that must not stop the clock.
 */
const syncedTargets = (info: CloudInfo, cloudBytes: number, version: number) =>
  saysSynced(info).filter((r) => r.bytes.total === cloudBytes && r.version >= version)

/** One GET that must be answered 200 with `expected` by the server itself (not a redirect). */
async function checkServes (name: string, url: string, expected: Buffer, nodeId?: string): Promise<void> {
  const res = await fetch(url, { redirect: 'manual' })
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) throw new Error(`${name}: GET ${url} answered ${res.status} (location ${res.headers.get('location')}), expected 200 from the server itself`)
  if (nodeId !== undefined && res.headers.get('x-bevy-node') !== nodeId) {
    throw new Error(`${name}: X-Bevy-Node is ${res.headers.get('x-bevy-node')}, expected ${nodeId}`)
  }
  if (!body.equals(expected)) throw new Error(`${name}: GET ${url} returned different bytes (${body.length} bytes)`)
}

// ---------- main ----------

interface ServerUnderTest {
  name: string
  base: string
  pids: () => number[]
  /** Request headers for the load; the bevy node gets the hop header so it serves from its own copy. */
  headers?: Record<string, string>
}
interface ServerFigures { name: string, rps: LoadRun<RpsResult>, big: LoadRun<BigResult> }

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-clouds-'))
  const children = new Set<ChildProcess>()
  const nodes: NodeProcess[] = []
  let dht: PrivateDht | null = null
  let owner: { store: Corestore, drive: Hyperdrive, swarm: Hyperswarm | null } | null = null
  let cleaned: Promise<void> | null = null
  const cleanup = () => (cleaned ??= (async () => {
    await Promise.allSettled(nodes.map((n) => n.stop('SIGTERM')))
    await Promise.allSettled([...children].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once('exit', () => resolve())
      c.kill('SIGTERM')
    })))
    if (owner !== null) {
      const o = owner
      await o.swarm?.destroy().catch(() => {})
      await o.drive.close().catch(() => {})
      await o.store.close().catch(() => {})
    }
    await dht?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })())
  const stopHandlingSignals = cleanUpOnSignal(cleanup)

  try {
    await chmod(dir, 0o755) // nginx workers run as an unprivileged user when started as root
    const nginxBin = findNginx()
    progress(`clouds benchmark: ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, dir ${dir}`)
    if (nginxBin === null) progress('nginx not found (apt-get install nginx); the nginx ratios will be NA')

    // The content, as plain files: nginx serves these, serve-drive's child copies them into its drive.
    const www = join(dir, 'www')
    await mkdir(www, { mode: 0o755 })
    const printable = 'abcdefghijklmnopqrstuvwxyz0123456789\n'
    const content: Record<(typeof FILES)[number], Buffer> = {
      'small.txt': Buffer.from(Array.from(randomBytes(SMALL_BYTES), (b) => printable[b % printable.length]).join('')),
      'big.bin': randomBytes(BIG_BYTES),
      'fill.bin': randomBytes(FILL_BYTES)
    }
    for (const name of FILES) await writeFile(join(www, name), content[name], { mode: 0o644 })

    dht = await startPrivateDht({ port: 0 })
    progress(`private DHT at ${dht.bootstrap}`)

    // The owner's drive, written before any timing.
    const store = new Corestore(join(dir, 'owner'))
    const drive = new Hyperdrive(store.namespace('bench'))
    owner = { store, drive, swarm: null }
    await drive.ready()
    for (const name of FILES) await drive.put('/' + name, content[name])
    const blobs = await drive.getBlobs()
    if (blobs === null) throw new Error('owner drive has no blob core')
    const cloudBytes = drive.core.byteLength + blobs.core.byteLength
    const key = formatKey(drive.key)
    const driveVersion = drive.version
    progress(`owner drive written: ${FILES.length} files, ${fmt(cloudBytes / MB, 2)} MB (db ${drive.core.byteLength} + blobs ${blobs.core.byteLength} bytes), key ${key}`)

    // Baseline: cp of the same number of bytes on the same filesystem.
    const cpDir = join(dir, 'cp')
    await mkdir(cpDir)
    await writeFile(join(cpDir, 'src'), randomBytes(cloudBytes))
    const cpBin = existsSync('/bin/cp') ? '/bin/cp' : 'cp'
    const cpMs: number[] = []
    for (let i = 0; i < CP_RUNS; i++) {
      const t0 = performance.now()
      const r = spawnSync(cpBin, [join(cpDir, 'src'), join(cpDir, `dst${i}`)])
      cpMs.push(performance.now() - t0)
      if (r.status !== 0) throw new Error(`cp failed: ${r.stderr?.toString()}`)
    }
    const cpMbps = cloudBytes / MB / (median(cpMs) / 1000)
    await rm(cpDir, { recursive: true, force: true })
    progress(`cp baseline: ${cpMs.map((ms) => fmt(ms, 1) + ' ms').join(', ')} -> median ${fmt(cpMbps, 0)} MB/s`)

    // Seed the drive.
    const [host, portText] = dht.bootstrap.split(':')
    const swarm = new Hyperswarm({ bootstrap: [{ host: host!, port: Number(portText) }] })
    owner.swarm = swarm
    swarm.on('connection', (conn: SwarmConnection) => {
      conn.on('error', () => {})
      store.replicate(conn)
    })
    swarm.join(drive.discoveryKey, { server: true, client: true })
    await swarm.flush()
    progress('owner seeding')

    // A bevy of two node processes.
    nodes.push(spawnNode(nodeArgs(dht, join(dir, 'node1')), { quiet: true }))
    const founder = await withTimeout(nodes[0]!.ready, CLUSTER_TIMEOUT_MS, () => `the founder; its output:\n${nodes[0]!.output().slice(-1000)}`)
    if (founder.invite === null) throw new Error('the founder gave no invite')
    nodes.push(spawnNode(nodeArgs(dht, join(dir, 'node2'), ['--join', founder.invite]), { quiet: true }))
    const joiner = await withTimeout(nodes[1]!.ready, CLUSTER_TIMEOUT_MS, () => `the joiner; its output:\n${nodes[1]!.output().slice(-1000)}`)
    await waitFor('both nodes to list 2 live nodes', CLUSTER_TIMEOUT_MS, async () => {
      const views = await Promise.all([founder, joiner].map((n) => api<{ nodes: Array<{ state: string }> }>(n, 'GET', '/api/status')))
      return views.every((v) => v.nodes.length === 2 && v.nodes.every((n) => n.state === 'live'))
    })
    progress(`bevy of 2 nodes live (${founder.url}, ${joiner.url}); registering the cloud with 2 replicas`)

    // Sync: POST -> both targets synced.
    const nodePids = nodes.map((n) => n.child.pid as number)
    const syncCpu0 = { nodes: nodePids.map((p) => cpuMark([p])), bench: process.cpuUsage(), machine: machineMark() }
    const t0 = performance.now()
    await api<CloudInfo>(founder, 'POST', '/api/clouds', { key, replicas: 2 })
    let firstSyncedMs = NaN
    let firstBytesMs = NaN
    const early = new Set<string>() // replicas seen saying `synced` before they had the whole drive
    await waitFor('2 synced target replicas', SYNC_TIMEOUT_MS, async () => {
      const info = await api<CloudInfo>(founder, 'GET', `/api/clouds/${key}`)
      const at = performance.now() - t0
      if (Number.isNaN(firstBytesMs) && info.placement.some((r) => r.role === 'target' && r.bytes.had > 0)) firstBytesMs = at
      for (const r of saysSynced(info)) {
        if (r.bytes.total < cloudBytes && !early.has(r.node)) {
          early.add(r.node)
          progress(`note: replica ${r.node.slice(0, 8)} said synced at ${fmt(at, 0)} ms with bytes ${r.bytes.had}/${r.bytes.total} ` +
            `(the drive has ${cloudBytes}), version ${r.version}/${driveVersion}; not counted`)
        }
      }
      const synced = syncedTargets(info, cloudBytes, driveVersion).length
      if (synced >= 1 && Number.isNaN(firstSyncedMs)) firstSyncedMs = performance.now() - t0
      return synced >= 2
    }, SYNC_POLL_MS)
    const syncMs = performance.now() - t0
    const syncCpu = {
      nodes: nodePids.map((p, i) => cpuPct(syncCpu0.nodes[i]!, cpuMark([p]))),
      bench: (() => { const u = process.cpuUsage(syncCpu0.bench); return (u.user + u.system) / 1000 / syncMs * 100 })(),
      machine: cpuPct(syncCpu0.machine, machineMark())
    }
    const syncMbps = cloudBytes / MB / (syncMs / 1000)
    progress(`synced to 2 replicas in ${fmt(syncMs, 0)} ms (first bytes reported at ${fmt(firstBytesMs, 0)} ms, first replica synced at ${fmt(firstSyncedMs, 0)} ms) -> ${fmt(syncMbps, 1)} MB/s; ` +
      `CPU during sync: nodes ${syncCpu.nodes.map((c) => fmt(c, 0) + ' %').join(', ')}, owner+DHT (bench process) ${fmt(syncCpu.bench, 0)} %, ` +
      `whole machine ${fmt(syncCpu.machine, 0)} % of ${cpus().length * 100} %`)

    // The owner is no longer needed; stop it so it does not compete with the servers.
    await swarm.destroy()
    await drive.close()
    await store.close()
    owner = null

    // Servers under test.
    const bevyUrl = `${founder.url.replace(/\/$/, '')}/c/${key}`
    await checkServes('bevy', `${bevyUrl}/small.txt`, content['small.txt'], founder.id)
    const founderPid = nodes[0]!.child.pid as number
    // As a forwarded request (hop header), so the replica always serves its own copy: a plain
    // request may be redirected to the other replica when this one is the busier (issue 5).
    const servers: ServerUnderTest[] = [{ name: 'bevy node', base: bevyUrl, pids: () => [founderPid], headers: { 'x-bevy-hop': 'bench' } }]

    progress('starting serve-drive in its own process (writes the same files into its own Corestore)')
    const sd = fork(SELF, ['--serve-drive', www, join(dir, 'serve-drive-store')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.add(sd)
    sd.once('exit', () => children.delete(sd))
    const sdPort = await withTimeout(new Promise<number>((resolve, reject) => {
      sd.on('message', (msg: { type?: string, port?: number }) => { if (msg?.type === 'listening') resolve(msg.port as number) })
      sd.once('exit', (code) => reject(new Error(`serve-drive child exited with ${code}`)))
    }), 120_000, () => 'serve-drive to listen')
    const sdUrl = `http://127.0.0.1:${sdPort}`
    await checkServes('serve-drive', `${sdUrl}/small.txt`, content['small.txt'])
    servers.push({ name: 'serve-drive', base: sdUrl, pids: () => [sd.pid as number] })

    if (nginxBin !== null) {
      const nginx = await startStaticNginx(nginxBin, join(dir, 'nginx'), www, children)
      await checkServes('nginx', `${nginx.url}/small.txt`, content['small.txt'])
      const master = nginx.child.pid as number
      servers.push({ name: 'nginx', base: nginx.url, pids: () => [master, ...childPids(master)] })
      progress(`nginx (${nginxBin}) serving ${www} at ${nginx.url}`)
    }

    progress(`settling ${SETTLE_MS} ms before load`)
    await sleep(SETTLE_MS)

    const rpsRuns: LoadRun<RpsResult>[] = []
    for (const s of servers) {
      const run = await runLoad<RpsResult>({ kind: 'rps', url: `${s.base}/small.txt`, ...RPS, ...(s.headers === undefined ? {} : { headers: s.headers }) }, s.pids, children)
      const r = run.result
      if (r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0) {
        throw new Error(`${s.name}: ${r.non2xx} non-2xx responses, ${r.errors} errors, ${r.timeouts} timeouts out of ${r.total} requests`)
      }
      progress(`${s.name}: GET 1 KiB ${fmt(r.rps, 0)} req/s (${r.total} requests, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms); ` +
        `server CPU ${fmt(run.serverCpuPct, 0)} %, load generator CPU ${fmt(run.loadCpuPct, 0)} %, whole machine ${fmt(run.machineCpuPct, 0)} %`)
      rpsRuns.push(run)
    }
    const figures: ServerFigures[] = []
    for (const [i, s] of servers.entries()) {
      const run = await runLoad<BigResult>({ kind: 'big', url: `${s.base}/big.bin`, expectedBytes: BIG_BYTES, ...BIG, ...(s.headers === undefined ? {} : { headers: s.headers }) }, s.pids, children)
      const mbps = run.result.bytes / MB / (run.result.elapsedMs / 1000)
      progress(`${s.name}: GET 50 MiB ${fmt(mbps, 1)} MB/s (${run.result.requests} responses in ${fmt(run.result.elapsedMs, 0)} ms); ` +
        `server CPU ${fmt(run.serverCpuPct, 0)} %, load generator CPU ${fmt(run.loadCpuPct, 0)} %, whole machine ${fmt(run.machineCpuPct, 0)} %`)
      figures.push({ name: s.name, rps: rpsRuns[i]!, big: run })
    }

    // Report.
    const mbpsOf = (f: ServerFigures | undefined) => f === undefined ? NaN : f.big.result.bytes / MB / (f.big.result.elapsedMs / 1000)
    const bevy = figures[0]!
    const serveDrive = figures.find((f) => f.name === 'serve-drive')
    const nginxFig = figures.find((f) => f.name === 'nginx')
    say()
    say(`sync of a ${fmt(cloudBytes / MB, 2)} MB cloud to 2 new replicas: ${fmt(syncMs, 0)} ms = ${fmt(syncMbps, 1)} MB/s ` +
      `(first bytes reported at ${fmt(firstBytesMs, 0)} ms, first replica synced at ${fmt(firstSyncedMs, 0)} ms` +
      `${early.size > 0 ? `; ${early.size} replica(s) said synced early with part of the bytes, not counted` : ''}); ` +
      `cp of the same bytes: median ${fmt(median(cpMs), 1)} ms = ${fmt(cpMbps, 0)} MB/s (runs ${cpMs.map((ms) => fmt(ms, 0)).join(', ')} ms)`)
    say()
    // CPU columns in % of one core over the measured window: server, load generator, and everything
    // else on the machine (whole-machine busy minus those two: idle bevy nodes, this process, others).
    const pct = (n: number) => (fmt(n, 0) + ' %').padStart(7)
    const cpuCols = (r: LoadRun<unknown>) => `${pct(r.serverCpuPct)} ${pct(r.loadCpuPct)} ${pct(Math.max(0, r.machineCpuPct - r.serverCpuPct - r.loadCpuPct))}`
    say(`${''.padEnd(12)} ${'GET 1 KiB, 10 connections'.padEnd(50)}  GET 50 MiB, 1 connection`)
    say(`${'server'.padEnd(12)} ${'req/s'.padStart(8)} ${'p50/p99 ms'.padStart(11)} ${'server'.padStart(7)} ${'loadgen'.padStart(7)} ${'other'.padStart(7)}  ` +
      `${'MB/s'.padStart(8)} ${'server'.padStart(7)} ${'loadgen'.padStart(7)} ${'other'.padStart(7)}`)
    for (const f of figures) {
      say(`${f.name.padEnd(12)} ${fmt(f.rps.result.rps, 0).padStart(8)} ${`${f.rps.result.p50Ms}/${f.rps.result.p99Ms}`.padStart(11)} ${cpuCols(f.rps)}      ` +
        `${fmt(mbpsOf(f), 1).padStart(8)} ${cpuCols(f.big)}`)
    }
    if (nginxFig === undefined) say('nginx           not found (apt-get install nginx): NA')

    const syncVsCp = ratio3(syncMbps, cpMbps)
    const rpsVsSd = ratio3(bevy.rps.result.rps, serveDrive?.rps.result.rps ?? NaN)
    const rpsVsNginx = ratio3(bevy.rps.result.rps, nginxFig?.rps.result.rps ?? NaN)
    const mbpsVsNginx = ratio3(mbpsOf(bevy), mbpsOf(nginxFig))
    const target = (name: string, value: string, goal: number) =>
      say(`  ${name.padEnd(18)} ${value.padStart(7)}  target >= ${goal}  ${value === 'NA' ? 'NA' : Number(value) >= goal ? 'MET' : 'MISSED'}`)
    say()
    say('targets:')
    target('sync_vs_cp', syncVsCp, TARGETS.syncVsCp)
    target('rps_vs_servedrive', rpsVsSd, TARGETS.rpsVsServeDrive)
    target('rps_vs_nginx', rpsVsNginx, TARGETS.rpsVsNginx)
    say(`  mbps_vs_nginx      ${mbpsVsNginx.padStart(7)}  (no target)`)
    say()
    process.stdout.write(`clouds: sync_vs_cp=${syncVsCp} rps_vs_servedrive=${rpsVsSd} rps_vs_nginx=${rpsVsNginx} mbps_vs_nginx=${mbpsVsNginx}\n`)
  } finally {
    await cleanup()
    stopHandlingSignals()
  }
}

const mode = process.argv[2]
const run = mode === '--serve-drive'
  ? serveDriveChild(process.argv[3]!, process.argv[4]!)
  : main()
run.catch((err) => {
  process.stderr.write(`bench:clouds${mode === undefined ? '' : ' ' + mode} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  if (mode === undefined) process.exitCode = 1
  else process.exit(1) // a child must not linger on open handles
})
