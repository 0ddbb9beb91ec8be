// Router benchmark: `npm run bench:router`. Everything runs on loopback against a private DHT.
//
// What it measures, and how:
//   setup     The bench process is the owner: it writes two Hyperdrives, X and Y, each holding
//             small.txt (1 KiB of random bytes), and seeds them on a Hyperswarm joined to the
//             private DHT. Five `bevy start` processes form a bevy (founder + 4 joiners on one
//             invite; --heartbeat-interval-ms 2000 --rejoin-stable-ms 0). X is registered with 3
//             replicas, Y with exactly 1 (R), and the bench waits until GET /api/clouds/<key>
//             shows every target `synced`. O is a node that holds neither cloud (not in either
//             placement). The owner then stops seeding, so only the servers under test remain.
//   cases     GET with autocannon, 50 connections, 2 s warm-up then BENCH_DURATION_S (default 10) s
//             measured, redirects not followed:
//               (a) bare fastify  a Fastify 5 app in its own process, one route /c/* answering
//                                 reply.redirect(<Location bevy gave in (b)>, 307), logger off
//               (b) bevy redirect O at /c/<X>/small.txt: O is no replica of X, so it answers 307 to
//                                 one of X's 3 replicas (checked once: 307, Location = a replica
//                                 of X + the same path)
//               (c) nginx proxy   nginx, 1 worker, access_log off, proxy_pass to R over an
//                                 upstream with keepalive 64 (HTTP/1.1, Connection ""), at
//                                 /c/<Y>/small.txt (checked once: 200, same bytes, X-Bevy-Node R)
//               (d) bevy proxy    O at /c/<Y>/small.txt with X-Bevy-Route: proxy; Y has one
//                                 replica, so O forwards to R, like nginx (checked once: 200, same
//                                 bytes, X-Bevy-Node O, X-Bevy-Replica R)
//               (e) direct        R itself at /c/<Y>/small.txt (checked once: 200, same bytes)
//             req/s = responses with the expected status (307 for a and b, 200 for c to e) /
//             measured seconds. p50/p99 = percentiles of every response's time in the measured
//             run, timed to sub-millisecond precision from autocannon's `response` event
//             (autocannon's own histogram keeps whole milliseconds). Other statuses and socket
//             errors are counted and shown, never counted as throughput.
//   CPU       The load generator is a forked process (bench/lib/load-child) separate from every
//             server. With taskset and 2+ cores it is pinned to CPU 0 and every server (bevy
//             nodes, nginx, bare fastify) to the other core(s); otherwise nothing is pinned (said
//             on stderr). For each run, utime+stime over the measured window (from /proc), in %
//             of one core, to show which side was the bottleneck: the servers under test ((c)
//             counts nginx + R, (d) counts O + R), the load generator, the idle bevy nodes (the
//             ones not under test: they stay up during every run and share the servers' core),
//             and the rest of the machine's busy time (this process with the DHT, anything else).
//             Before the first run the bench idles SETTLE_MS and warns if other processes are busy.
//   rounds    BENCH_ROUNDS=n (default 3) runs the cases n times in turn (a b c d e a b c d e ...), so a
//             drift in this VM's speed hits every case alike, and one slow moment moves one round,
//             not the result. Each ratio is then the median of its per-round ratios (each
//             round's cases compared with each other), and every round's ratios are printed.
//             BENCH_CASES=cd runs only the cases named (ratios needing the others are NA).
// Profiling: BENCH_PROF_DIR=<dir> makes every node write a V8 CPU profile there when it stops.
// Progress and the table go to stderr; stdout gets one line:
//   router: redirect_vs_bare=b/a proxy_vs_nginx=d/c proxy_p99_vs_nginx=p99(d)/p99(c) proxy_vs_direct=d/e
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import type { CloudInfo } from '../node/bevy.js'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'
import { parseBootstrap } from '../node/config.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { formatKey } from '../protocol/index.js'
import { api } from './lib/bevy.js'
import { childPids, cpuMark, cpuPct, machineMark, pinnedForkOptions, pinProcess, planCores, type CorePlan } from './lib/cpu.js'
import { runLoad, type LoadRun, type RpsResult } from './lib/load.js'
import { findNginx, startNginx } from './lib/nginx.js'
import { cleanUpOnSignal, envPositiveInt, fmt, median, progress, say, waitFor, withTimeout } from './lib/util.js'

const NODES = 5
/**
 * Heartbeat interval of the nodes. All five share the servers' core, so their idle work is a tax on
 * every case: at 500 ms five idle nodes took ~90 % of a core here, at the 2000 ms default ~30 %.
 */
const HEARTBEAT_MS = 2000
const SMALL_BYTES = 1024
const LOAD = { connections: 50, warmupS: 2, durationS: envPositiveInt('BENCH_DURATION_S', 10) }
/** Three rounds: on a shared VM one case's 10 s can land in a slow spell (one round 0.82, the next 1.22). */
const ROUNDS = envPositiveInt('BENCH_ROUNDS', 3)
const CASE_IDS = ['a', 'b', 'c', 'd', 'e'] as const
/** The cases to run, from BENCH_CASES (letters a to e); all when unset. */
const ONLY_CASES = (() => {
  const raw = process.env.BENCH_CASES
  if (raw === undefined || raw === '') return new Set<string>(CASE_IDS)
  const picked = new Set(raw.toLowerCase().replace(/[\s,]/g, ''))
  for (const id of picked) if (!(CASE_IDS as readonly string[]).includes(id)) throw new Error(`BENCH_CASES takes letters a to e, got "${raw}"`)
  return picked
})()
const CLUSTER_TIMEOUT_MS = 60_000
const SYNC_TIMEOUT_MS = 60_000
const ROUTE_TIMEOUT_MS = 30_000
const SETTLE_MS = 3_000
/** CPU (% of one core) taken by other processes (or steal) above which the figures are flagged as noisy. */
const BUSY_WARNING_PCT = 20
const STOP_GRACE_MS = 10_000
const TARGETS = { redirectVsBare: 0.9, proxyVsNginx: 1.0, proxyP99VsNginxMax: 1.5 }

const SELF = fileURLToPath(import.meta.url)

// ---------- child mode: the bare fastify app of case (a) ----------

async function bareFastifyChild (location: string): Promise<void> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  app.get('/c/*', (_request, reply) => reply.redirect(location, 307))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const stop = () => { app.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.once('disconnect', stop)
  const address = app.server.address()
  process.send!({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
}

/** Forks this file as the bare fastify app (pinned with the servers) and waits for its port. */
async function startBareFastify (location: string, plan: CorePlan | null, children: Set<ChildProcess>): Promise<{ child: ChildProcess, url: string }> {
  const child = fork(SELF, ['--bare-fastify', location], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true, // a session of its own, like every server here (see startNginx)
    ...(plan === null ? {} : pinnedForkOptions(plan.taskset, plan.servers))
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const port = await withTimeout(new Promise<number>((resolve, reject) => {
    child.on('message', (msg: { type?: string, port?: number }) => { if (msg?.type === 'listening') resolve(msg.port as number) })
    child.once('exit', (code) => reject(new Error(`bare fastify child exited with ${code}`)))
  }), 30_000, () => 'the bare fastify app to listen')
  return { child, url: `http://127.0.0.1:${port}` }
}

// ---------- the owner's two drives ----------

interface Owner { store: Corestore, drives: Hyperdrive[], swarm: Hyperswarm | null }

/** Writes drive `name` with small.txt = `content` into the owner's store. */
async function writeDrive (store: Corestore, name: string, content: Buffer): Promise<Hyperdrive> {
  const drive = new Hyperdrive(store.namespace(name))
  await drive.ready()
  await drive.put('/small.txt', content)
  return drive
}

/** Seeds the owner's drives on a Hyperswarm joined to the private DHT. */
async function seed (owner: Owner, dht: PrivateDht): Promise<void> {
  const swarm = new Hyperswarm({ bootstrap: parseBootstrap(dht.bootstrap) })
  owner.swarm = swarm
  swarm.on('connection', (conn: SwarmConnection) => {
    conn.on('error', () => {})
    owner.store.replicate(conn)
  })
  for (const drive of owner.drives) swarm.join(drive.discoveryKey, { server: true, client: true })
  await swarm.flush()
}

async function closeOwner (owner: Owner): Promise<void> {
  await owner.swarm?.destroy().catch(() => {})
  owner.swarm = null
  for (const drive of owner.drives) await drive.close().catch(() => {})
  await owner.store.close().catch(() => {})
}

// ---------- the bevy ----------

function nodeArgs (dht: PrivateDht, storage: string, extra: string[] = []): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap,
    '--log-level', 'warn', '--heartbeat-interval-ms', String(HEARTBEAT_MS), '--rejoin-stable-ms', '0', ...extra]
}

/** BENCH_PROF_DIR: each node writes a V8 CPU profile there when it stops (NODE_OPTIONS refuses --cpu-prof). */
const PROF_DIR = process.env.BENCH_PROF_DIR

/** Spawns one node, pins it with the servers, and waits until it is ready. */
async function startNode (args: string[], plan: CorePlan | null, nodes: NodeProcess[]): Promise<ReadyMessage> {
  const node = spawnNode(args, { quiet: true, ...(PROF_DIR === undefined ? {} : { execArgv: ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] }) })
  nodes.push(node)
  if (plan !== null && node.child.pid !== undefined) pinProcess(plan.taskset, node.child.pid, plan.servers)
  return await withTimeout(node.ready, CLUSTER_TIMEOUT_MS, () => `node ${nodes.length} to be ready; its output:\n${node.output().slice(-1000)}`)
}

/** A founder and NODES-1 joiners on one invite, one after another; resolves when all see all live. */
async function startBevy (dht: PrivateDht, dir: string, plan: CorePlan | null, nodes: NodeProcess[]): Promise<ReadyMessage[]> {
  const founder = await startNode(nodeArgs(dht, join(dir, 'node1')), plan, nodes)
  const { invite } = await api<{ invite: string }>(founder, 'POST', '/api/invites', { uses: NODES - 1 })
  const members = [founder]
  for (let i = 2; i <= NODES; i++) members.push(await startNode(nodeArgs(dht, join(dir, `node${i}`), ['--join', invite]), plan, nodes))
  await waitFor(`every node to list ${NODES} live nodes`, CLUSTER_TIMEOUT_MS, async () => {
    const views = await Promise.all(members.map((m) => api<{ nodes: Array<{ state: string }> }>(m, 'GET', '/api/status')))
    return views.every((v) => v.nodes.length === NODES && v.nodes.every((n) => n.state === 'live'))
  })
  return members
}

/** Waits until `key` has `replicas` target replicas, all synced; returns the cloud's placement. */
async function waitSynced (founder: ReadyMessage, key: string, replicas: number): Promise<CloudInfo> {
  let info: CloudInfo | null = null
  await waitFor(`${replicas} synced target replica(s) of ${key.slice(0, 8)}`, SYNC_TIMEOUT_MS, async () => {
    info = await api<CloudInfo>(founder, 'GET', `/api/clouds/${key}`)
    const targets = info.placement.filter((r) => r.role === 'target')
    return targets.length === replicas && targets.every((r) => r.synced)
  })
  return info!
}

const targetsOf = (info: CloudInfo) => info.placement.filter((r) => r.role === 'target').map((r) => r.node)

/** A node of the bench's bevy: what it said when ready, and its process id. */
interface Member { ready: ReadyMessage, pid: number }

/** X's replicas, Y's one replica R, and O: a node in neither cloud's placement. */
function pickRoles (members: Member[], infoX: CloudInfo, infoY: CloudInfo): { replicasX: Member[], R: Member, O: Member } {
  const byId = (id: string) => {
    const member = members.find((m) => m.ready.id === id)
    if (member === undefined) throw new Error(`placement names node ${id}, which is none of the bench's nodes`)
    return member
  }
  const holders = new Set([...infoX.placement, ...infoY.placement].map((r) => r.node))
  const O = members.find((m) => !holders.has(m.ready.id))
  if (O === undefined) throw new Error(`every node is in the placement of X or Y (${[...holders].join(', ')}); no node to route from`)
  return { replicasX: targetsOf(infoX).map(byId), R: byId(targetsOf(infoY)[0]!), O }
}

// ---------- one-off checks ----------

/** GET without following redirects; the status, headers and body. */
async function getOnce (url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

/** A 307 whose Location is one of `origins` + `path`; returns that Location. */
async function checkRedirect (name: string, url: string, origins: string[], path: string): Promise<string> {
  const res = await getOnce(url)
  const location = res.headers.get('location')
  if (res.status !== 307 || location === null) throw new Error(`${name}: GET ${url} answered ${res.status} (location ${location}), expected a 307`)
  const to = new URL(location)
  if (!origins.includes(to.origin) || to.pathname !== path) throw new Error(`${name}: GET ${url} redirected to ${location}, expected one of ${origins.join(', ')} + ${path}`)
  return location
}

/** A 200 with `expected` as body and the given response headers. */
async function checkOk (name: string, url: string, expected: Buffer, want: Record<string, string>, headers: Record<string, string> = {}): Promise<void> {
  const res = await getOnce(url, headers)
  if (res.status !== 200) throw new Error(`${name}: GET ${url} answered ${res.status} (location ${res.headers.get('location')}), expected 200`)
  if (!res.body.equals(expected)) throw new Error(`${name}: GET ${url} returned different bytes (${res.body.length} bytes)`)
  for (const [header, value] of Object.entries(want)) {
    if (res.headers.get(header) !== value) throw new Error(`${name}: ${header} is ${res.headers.get(header)}, expected ${value}`)
  }
}

// ---------- cases ----------

interface Case {
  id: 'a' | 'b' | 'c' | 'd' | 'e'
  name: string
  url: string
  headers?: Record<string, string>
  expectStatus: 200 | 307
  /** The server processes under test, with a name for each. */
  servers: () => Array<{ pid: number, name: string }>
}

interface Outcome {
  c: Case
  run: LoadRun<RpsResult> | null
  error: string | null
  /** Responses with the expected status per measured second. */
  rps: number
  p50Ms: number
  p99Ms: number
  count2xx: number
  count3xx: number
  /** Responses with any other status. */
  other: number
  /** Statuses that were not the expected one, e.g. "502 x3". */
  unexpected: string
}

function outcomeOf (c: Case, run: LoadRun<RpsResult>): Outcome {
  const r = run.result
  const counts = Object.entries(r.statusCounts).map(([code, n]) => ({ code: Number(code), n }))
  const sum = (pick: (code: number) => boolean) => counts.filter((s) => pick(s.code)).reduce((a, s) => a + s.n, 0)
  return {
    c,
    run,
    error: null,
    rps: sum((code) => code === c.expectStatus) / r.durationS,
    p50Ms: r.exact?.p50Ms ?? NaN,
    p99Ms: r.exact?.p99Ms ?? NaN,
    count2xx: sum((code) => code >= 200 && code < 300),
    count3xx: sum((code) => code >= 300 && code < 400),
    other: sum((code) => code < 200 || code >= 400),
    unexpected: counts.filter((s) => s.code !== c.expectStatus).map((s) => `${s.code} x${s.n}`).join(', ')
  }
}

const missing = (c: Case, error: string): Outcome =>
  ({ c, run: null, error, rps: NaN, p50Ms: NaN, p99Ms: NaN, count2xx: 0, count3xx: 0, other: 0, unexpected: '' })

/** Runs case `c`'s load; `nodePids` are all bevy nodes (those not under test are sampled as idle). */
async function measure (c: Case, nodePids: number[], plan: CorePlan | null, children: Set<ChildProcess>): Promise<Outcome> {
  progress(`(${c.id}) ${c.name}: GET ${c.url}${c.headers === undefined ? '' : ' ' + JSON.stringify(c.headers)}, ` +
    `${LOAD.connections} connections, ${LOAD.warmupS} s warm-up + ${LOAD.durationS} s`)
  const servers = c.servers()
  const names = new Map(servers.map((s) => [s.pid, s.name]))
  const job = { kind: 'rps' as const, url: c.url, ...LOAD, exactLatency: true, ...(c.headers === undefined ? {} : { headers: c.headers }) }
  const idleNodes = nodePids.filter((pid) => !names.has(pid))
  const run = await runLoad<RpsResult>(job, () => c.servers().map((s) => s.pid), children,
    { pin: plan === null ? null : { taskset: plan.taskset, cores: plan.load }, watch: () => idleNodes })
  const o = outcomeOf(c, run)
  const r = run.result
  progress(`(${c.id}) ${fmt(o.rps, 0)} req/s with status ${c.expectStatus} (autocannon: ${fmt(r.rps, 0)} req/s of any status, ${r.total} responses, ` +
    `p50/p99 ${r.p50Ms}/${r.p99Ms} ms in whole ms); exact p50 ${fmt(o.p50Ms, 3)} ms, p99 ${fmt(o.p99Ms, 3)} ms over ${r.exact?.count ?? 0} responses; ` +
    `errors ${r.errors} (timeouts ${r.timeouts})${o.unexpected === '' ? '' : `; UNEXPECTED statuses: ${o.unexpected}`}; ` +
    `server CPU ${run.serverCpuByPid.map((p) => `${names.get(p.pid) ?? p.pid} ${fmt(p.pct, 0)} %`).join(' + ')}, ` +
    `load generator ${fmt(run.loadCpuPct, 0)} %, ${idleNodes.length} idle nodes ${fmt(run.watchedCpuPct, 0)} %, ` +
    `whole machine ${fmt(run.machineCpuPct, 0)} % of ${cpus().length * 100} % (steal ${fmt(run.stealPct, 0)} %)`)
  return o
}

/** A server under test: its base URL and process id. */
interface Server { url: string, pid: number }

/** nginx as a reverse proxy to the replica at `replicaUrl`, keep-alive on both sides, with the X-Forwarded-* headers bevy's proxy sets. */
async function startNginxProxy (bin: string, prefix: string, replicaUrl: string, probePath: string, plan: CorePlan | null, children: Set<ChildProcess>): Promise<Server> {
  const started = await startNginx(bin, prefix, {
    probePath,
    pin: plan === null ? null : { taskset: plan.taskset, cores: plan.servers },
    http: (port) => `  upstream replica {
    server ${new URL(replicaUrl).host};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://replica;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # What bevy's proxy tells the replica too, so both do the same job.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }`
  }, children)
  return { url: started.url, pid: started.child.pid as number }
}

const PROXY_HEADERS = { 'x-bevy-route': 'proxy' }

/** Cases (a) to (e); (c) only with nginx. */
function casesOf (s: { bare: Server, nginx: Server | null, O: Server, R: Server }, pathX: string, pathY: string): Case[] {
  const { bare, nginx, O, R } = s
  const cases: Case[] = [
    { id: 'a', name: 'bare fastify 307', url: bare.url + pathX, expectStatus: 307, servers: () => [{ pid: bare.pid, name: 'fastify' }] },
    { id: 'b', name: 'bevy redirect 307', url: O.url + pathX, expectStatus: 307, servers: () => [{ pid: O.pid, name: 'O' }] }
  ]
  if (nginx !== null) {
    const nginxPids = () => [{ pid: nginx.pid, name: 'nginx master' }, ...childPids(nginx.pid).map((pid) => ({ pid, name: 'nginx worker' }))]
    cases.push({ id: 'c', name: 'nginx proxy -> R', url: nginx.url + pathY, expectStatus: 200, servers: () => [...nginxPids(), { pid: R.pid, name: 'R' }] })
  }
  cases.push(
    { id: 'd', name: 'bevy proxy -> R', url: O.url + pathY, headers: PROXY_HEADERS, expectStatus: 200, servers: () => [{ pid: O.pid, name: 'O' }, { pid: R.pid, name: 'R' }] },
    { id: 'e', name: 'direct R', url: R.url + pathY, expectStatus: 200, servers: () => [{ pid: R.pid, name: 'R' }] }
  )
  return cases
}

/**
 * Runs every case in turn, ROUNDS times over; a case that fails is reported and left out (NA), the
 * rest still run. Returns each round's outcomes. Stops early once `stopping()` says the bench is
 * being interrupted.
 */
async function runCases (cases: Case[], nodePids: number[], plan: CorePlan | null, children: Set<ChildProcess>, stopping: () => boolean): Promise<{ rounds: Outcome[][], failed: boolean }> {
  const rounds: Outcome[][] = []
  let failed = false
  for (let round = 1; round <= ROUNDS; round++) {
    if (ROUNDS > 1) progress(`round ${round} of ${ROUNDS}`)
    const outcomes: Outcome[] = []
    for (const c of cases) {
      if (stopping()) throw new Error('interrupted')
      try {
        outcomes.push(await measure(c, nodePids, plan, children))
      } catch (err) {
        failed = true
        const message = err instanceof Error ? err.message : String(err)
        progress(`(${c.id}) ${c.name} failed: ${message}`)
        outcomes.push(missing(c, `failed: ${message.split('\n', 1)[0]}`))
      }
    }
    if (ONLY_CASES.has('c') && !cases.some((c) => c.id === 'c')) outcomes.push(missing({ id: 'c', name: 'nginx proxy -> R', url: '', expectStatus: 200, servers: () => [] }, 'nginx not found'))
    outcomes.sort((p, q) => p.c.id.localeCompare(q.c.id))
    rounds.push(outcomes)
  }
  return { rounds, failed }
}

// ---------- report ----------

function printTable (rounds: Outcome[][]): void {
  const outcomes = rounds.flatMap((round, i) => round.map((o) => ({ ...o, round: rounds.length > 1 ? ` r${i + 1}` : '' })))
  const pct = (n: number) => (fmt(n, 0) + ' %').padStart(8)
  say()
  say(`GET small.txt (1 KiB), ${LOAD.connections} connections, ${LOAD.warmupS} s warm-up + ${LOAD.durationS} s measured; ` +
    'CPU in % of one core over the measured window:')
  say('non2/3xx = responses neither 2xx nor 3xx; errors = socket errors and timeouts (autocannon)')
  say('server = the processes under test, loadgen = autocannon, idle = the bevy nodes not under test, rest = the rest of the machine,')
  say('steal = time the hypervisor gave this VM\'s CPUs to someone else')
  say(`${'case'.padEnd(26)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'2xx'.padStart(8)} ${'3xx'.padStart(8)} ` +
    `${'non2/3xx'.padStart(8)} ${'errors'.padStart(6)} ${'server'.padStart(8)} ${'loadgen'.padStart(8)} ${'idle'.padStart(8)} ${'rest'.padStart(8)} ${'steal'.padStart(8)}`)
  for (const o of outcomes) {
    const label = `(${o.c.id}) ${o.c.name}${o.round}`.padEnd(26)
    if (o.run === null) {
      say(`${label} ${'NA'.padStart(8)}  ${o.error ?? ''}`)
      continue
    }
    const r = o.run
    say(`${label} ${fmt(o.rps, 0).padStart(8)} ${fmt(o.p50Ms, 2).padStart(7)} ${fmt(o.p99Ms, 2).padStart(7)} ${String(o.count2xx).padStart(8)} ` +
      `${String(o.count3xx).padStart(8)} ${String(o.other).padStart(8)} ${String(r.result.errors).padStart(6)} ${pct(r.serverCpuPct)} ` +
      `${pct(r.loadCpuPct)} ${pct(r.watchedCpuPct)} ${pct(restPct(r))} ${pct(r.stealPct)}`)
  }
  for (const o of outcomes) {
    if (o.unexpected !== '') say(`  (${o.c.id}) statuses other than the expected ${o.c.expectStatus}: ${o.unexpected}`)
  }
  const noisy = outcomes.filter((o) => o.run !== null && (restPct(o.run) > BUSY_WARNING_PCT || o.run.stealPct > BUSY_WARNING_PCT))
  if (noisy.length > 0) {
    say(`  WARNING: ${noisy.map((o) => `(${o.c.id})`).join(', ')} ran while other processes or the hypervisor took more than ` +
      `${BUSY_WARNING_PCT} % of a core (rest/steal columns); their figures are not clean, run again on a quiet machine`)
  }
}

/** Busy CPU of the machine over a run that was none of the bench's own processes (nor steal). */
const restPct = (r: LoadRun<RpsResult>) => Math.max(0, r.machineCpuPct - r.stealPct - r.serverCpuPct - r.loadCpuPct - r.watchedCpuPct)

interface Ratios { redirectVsBare: string, proxyVsNginx: string, proxyP99VsNginx: string, proxyVsDirect: string }
type RatioName = keyof Ratios

/** One round's ratios (NaN where a case is missing). */
function roundRatios (outcomes: Outcome[]): Record<RatioName, number> {
  const byId = new Map(outcomes.map((o) => [o.c.id, o]))
  const v = (id: Case['id'], pick: (o: Outcome) => number) => { const o = byId.get(id); return o === undefined ? NaN : pick(o) }
  const r = (a: number, b: number) => Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN
  return {
    redirectVsBare: r(v('b', (o) => o.rps), v('a', (o) => o.rps)),
    proxyVsNginx: r(v('d', (o) => o.rps), v('c', (o) => o.rps)),
    proxyP99VsNginx: r(v('d', (o) => o.p99Ms), v('c', (o) => o.p99Ms)),
    proxyVsDirect: r(v('d', (o) => o.rps), v('e', (o) => o.rps))
  }
}

const RATIO_NAMES: RatioName[] = ['redirectVsBare', 'proxyVsNginx', 'proxyP99VsNginx', 'proxyVsDirect']

/** Each ratio's median over the rounds that have it; every round's ratios go to stderr when there are several. */
function ratiosOf (rounds: Outcome[][]): Ratios {
  const perRound = rounds.map(roundRatios)
  if (rounds.length > 1) {
    perRound.forEach((r, i) => say(`round ${i + 1}: redirect_vs_bare=${fmt(r.redirectVsBare, 3)} proxy_vs_nginx=${fmt(r.proxyVsNginx, 3)} ` +
      `proxy_p99_vs_nginx=${fmt(r.proxyP99VsNginx, 3)} proxy_vs_direct=${fmt(r.proxyVsDirect, 3)}`))
  }
  const out = {} as Ratios
  for (const name of RATIO_NAMES) {
    const values = perRound.map((r) => r[name]).filter(Number.isFinite)
    out[name] = values.length === 0 ? 'NA' : median(values).toFixed(3)
  }
  return out
}

function printTargets (ratios: Ratios): void {
  const verdict = (value: string, met: (n: number) => boolean) => value === 'NA' ? 'NA' : met(Number(value)) ? 'MET' : 'MISSED'
  say()
  say('targets:')
  say(`  redirect_vs_bare    ${ratios.redirectVsBare.padStart(7)}  target >= ${TARGETS.redirectVsBare}  ${verdict(ratios.redirectVsBare, (n) => n >= TARGETS.redirectVsBare)}`)
  say(`  proxy_vs_nginx      ${ratios.proxyVsNginx.padStart(7)}  target >= ${TARGETS.proxyVsNginx}  ${verdict(ratios.proxyVsNginx, (n) => n >= TARGETS.proxyVsNginx)}`)
  say(`  proxy_p99_vs_nginx  ${ratios.proxyP99VsNginx.padStart(7)}  target <= ${TARGETS.proxyP99VsNginxMax}  ${verdict(ratios.proxyP99VsNginx, (n) => n <= TARGETS.proxyP99VsNginxMax)}`)
  say(`  proxy_vs_direct     ${ratios.proxyVsDirect.padStart(7)}  (no target)`)
  say()
}

/**
 * Waits SETTLE_MS with everything up and idle, and says how busy the machine was meanwhile: the
 * idle nodes' own CPU, and the rest (other processes on the machine make every figure noisy).
 */
async function settle (nodePids: number[]): Promise<void> {
  const machine0 = machineMark()
  const nodes0 = cpuMark(nodePids)
  await sleep(SETTLE_MS)
  const nodesPct = cpuPct(nodes0, cpuMark(nodePids))
  const othersPct = cpuPct(machine0, machineMark()) - nodesPct
  progress(`settled ${SETTLE_MS} ms before load: idle bevy nodes used ${fmt(nodesPct, 0)} % of one core, everything else ${fmt(othersPct, 0)} %`)
  if (othersPct > BUSY_WARNING_PCT) progress(`WARNING: something else is using ${fmt(othersPct, 0)} % of a core on this machine; the figures below will be noisy`)
}

/** The commit being measured, and whether the work tree differs from it (for the record). */
function describeCommit (): string {
  const git = (args: string[]) => spawnSync('git', args, { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' })
  const head = git(['rev-parse', '--short', 'HEAD'])
  if (head.status !== 0) return 'commit unknown'
  const dirty = git(['status', '--porcelain', '--untracked-files=no']).stdout.trim() !== ''
  return `commit ${head.stdout.trim()}${dirty ? ' + uncommitted changes' : ''}`
}

// ---------- cleanup ----------

/** SIGTERM, then SIGKILL if the process is still there after STOP_GRACE_MS. */
function stopChild (child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill('SIGTERM')
  })
}

// ---------- main ----------

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-router-'))
  const children = new Set<ChildProcess>()
  const nodes: NodeProcess[] = []
  let dht: PrivateDht | null = null
  let owner: Owner | null = null
  let cleaned: Promise<void> | null = null
  const cleanup = () => (cleaned ??= (async () => {
    await Promise.allSettled([...nodes.map((n) => stopChild(n.child)), ...[...children].map(stopChild)])
    if (owner !== null) await closeOwner(owner)
    await dht?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })())
  const stopHandlingSignals = cleanUpOnSignal(cleanup)

  try {
    await chmod(dir, 0o755) // nginx workers run as an unprivileged user when started as root
    const { plan, why } = planCores()
    const nginxBin = findNginx()
    progress(`router benchmark: ${describeCommit()}, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, dir ${dir}`)
    progress(why)
    if (nginxBin === null) progress('nginx not found (apt-get install nginx); case (c) and the nginx ratios will be NA')

    dht = await startPrivateDht({ port: 0 })
    progress(`private DHT at ${dht.bootstrap}`)

    // The owner's two clouds, written and seeded before the bevy exists.
    const content = { x: randomBytes(SMALL_BYTES), y: randomBytes(SMALL_BYTES) }
    owner = { store: new Corestore(join(dir, 'owner')), drives: [], swarm: null }
    const driveX = await writeDrive(owner.store, 'x', content.x)
    owner.drives.push(driveX)
    const driveY = await writeDrive(owner.store, 'y', content.y)
    owner.drives.push(driveY)
    const keyX = formatKey(driveX.key)
    const keyY = formatKey(driveY.key)
    await seed(owner, dht)
    progress(`owner seeding cloud X ${keyX} and cloud Y ${keyY}`)

    const members = await startBevy(dht, dir, plan, nodes)
    const founder = members[0]!
    progress(`bevy of ${NODES} nodes live: ${members.map((m) => m.url).join(', ')}`)

    await api<CloudInfo>(founder, 'POST', '/api/clouds', { key: keyX, replicas: 3 })
    await api<CloudInfo>(founder, 'POST', '/api/clouds', { key: keyY, replicas: 1 })
    const infoX = await waitSynced(founder, keyX, 3)
    const infoY = await waitSynced(founder, keyY, 1)
    const { replicasX, R, O } = pickRoles(members.map((ready, i) => ({ ready, pid: nodes[i]!.child.pid as number })), infoX, infoY)
    const short = (m: Member) => `${m.ready.id.slice(0, 8)} ${m.ready.url}`
    progress(`X synced on ${replicasX.map(short).join(', ')}; Y synced on R = ${short(R)}; routing node O = ${short(O)}`)

    // O sees the synced flags through the shared view a little later than the founder.
    const pathX = `/c/${keyX}/small.txt`
    const pathY = `/c/${keyY}/small.txt`
    const oUrl = O.ready.url.replace(/\/$/, '')
    const rUrl = R.ready.url.replace(/\/$/, '')
    await waitFor('O to redirect X and proxy Y', ROUTE_TIMEOUT_MS, async () => {
      const [x, y] = await Promise.all([getOnce(oUrl + pathX), getOnce(oUrl + pathY, PROXY_HEADERS)])
      return x.status === 307 && y.status === 200
    })

    // The owner is no longer needed; stop it so it does not compete with the servers.
    await closeOwner(owner)
    owner = null

    // One checked request per server before any load.
    const location = await checkRedirect('(b) bevy redirect', oUrl + pathX, replicasX.map((r) => new URL(r.ready.url).origin), pathX)
    await checkOk('(d) bevy proxy', oUrl + pathY, content.y, { 'x-bevy-node': O.ready.id, 'x-bevy-replica': R.ready.id }, PROXY_HEADERS)
    await checkOk('(e) direct', rUrl + pathY, content.y, { 'x-bevy-node': R.ready.id })
    const bareApp = await startBareFastify(location, plan, children)
    const bare: Server = { url: bareApp.url, pid: bareApp.child.pid as number }
    const bareLocation = await checkRedirect('(a) bare fastify', bare.url + pathX, [new URL(location).origin], pathX)
    if (bareLocation !== location) throw new Error(`(a) bare fastify: Location ${bareLocation}, expected ${location}`)
    progress(`bare fastify at ${bare.url} answers 307 -> ${location} (bevy's Location)`)
    let nginx: Server | null = null
    if (nginxBin !== null) {
      nginx = await startNginxProxy(nginxBin, join(dir, 'nginx'), rUrl, pathY, plan, children)
      await checkOk('(c) nginx proxy', nginx.url + pathY, content.y, { 'x-bevy-node': R.ready.id })
      progress(`nginx (${nginxBin}) at ${nginx.url} proxying to R ${rUrl}`)
    }

    const cases = casesOf({ bare, nginx, O: { url: oUrl, pid: O.pid }, R: { url: rUrl, pid: R.pid } }, pathX, pathY)
    await settle(nodes.map((n) => n.child.pid as number))

    const { rounds, failed } = await runCases(cases.filter((c) => ONLY_CASES.has(c.id)), nodes.map((n) => n.child.pid as number), plan, children, () => cleaned !== null)
    printTable(rounds)
    const ratios = ratiosOf(rounds)
    printTargets(ratios)
    process.stdout.write(`router: redirect_vs_bare=${ratios.redirectVsBare} proxy_vs_nginx=${ratios.proxyVsNginx} ` +
      `proxy_p99_vs_nginx=${ratios.proxyP99VsNginx} proxy_vs_direct=${ratios.proxyVsDirect}\n`)
    if (failed) process.exitCode = 1
  } finally {
    await cleanup()
    stopHandlingSignals()
  }
}

const mode = process.argv[2]
const run = mode === '--bare-fastify' ? bareFastifyChild(process.argv[3]!) : main()
run.catch((err) => {
  process.stderr.write(`bench:router${mode === undefined ? '' : ' ' + mode} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  if (mode === undefined) process.exitCode = 1
  else process.exit(1) // a child must not linger on open handles
})
