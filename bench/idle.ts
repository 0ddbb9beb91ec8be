// Idle benchmark: `npm run bench:idle`. What a bevy of 10 nodes that nobody uses costs. Loopback
// only, on a private DHT.
//
//   disk   10 `bevy start` processes with the ping and lease interval at BENCH_IDLE_LEASE_MS (300),
//          so the leases of days go by in minutes (2 shared cores sustain ~28 leases/s at most). Everything that
//          decides disk use stays at its default, above all epochMaxViewBlocks (the log rotates
//          after 20,000 view blocks). A simulated day is the leases 10 nodes write in a day at the
//          default lease interval (5 min): 2,880, as in a partial mesh; in a full mesh they write
//          one an hour each (leaseMeshIntervalMs), so this overstates the idle log's growth. Every BENCH_IDLE_SAMPLE_DAYS the storage
//          directory of every node is measured (apparent bytes, recursive) and the largest kept.
//          It runs until BENCH_IDLE_DAYS (7) simulated days or BENCH_IDLE_MAX_MIN (60) real
//          minutes, whichever comes first, and says which. Growth per day is the least-squares
//          slope of disk against simulated day over the last 3 days (or the last 3/7 of the run).
//   idle   A fresh bevy of 10 processes at default settings, settled for BENCH_IDLE_SETTLE_MS
//          (90 s: the leases written while the bevy formed are indexed and their views signed
//          by ~5 acks over about a minute; a bevy that just formed is not idle yet), then one
//          node (the last to join, not an indexer) watched for BENCH_IDLE_WINDOW_MS (60 s): CPU (utime+stime from /proc, %
//          of one core), RSS (VmRSS at the end), and wake-ups per second: its context switches
//          (voluntary + involuntary, /proc/<pid>/status), which count every timer and packet that
//          woke the process. Baseline: a bare `node -e "setInterval(()=>{},1000)"` over the
//          same window.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'
import { TUNABLES } from '../node/config.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { dirBytes } from '../node/disk.js'
import type { StatusReport } from '../node/status.js'
import { api } from './lib/bevy.js'
import { cpuMark, cpuPct } from './lib/cpu.js'
import { cleanUpOnSignal, envPositiveNumber } from './lib/util.js'

const NODES = envPositiveNumber('BENCH_IDLE_NODES', 10)
const DAYS = envPositiveNumber('BENCH_IDLE_DAYS', 7)
const SAMPLE_DAYS = envPositiveNumber('BENCH_IDLE_SAMPLE_DAYS', 0.25)
const MAX_MS = envPositiveNumber('BENCH_IDLE_MAX_MIN', 60) * 60_000
const SETTLE_MS = envPositiveNumber('BENCH_IDLE_SETTLE_MS', 90_000)
const WINDOW_MS = envPositiveNumber('BENCH_IDLE_WINDOW_MS', 60_000)
/** Lease (and ping) interval of the disk phase: 50 ms overloads 10 processes on 2 cores (status calls time out). */
const FAST_LEASE_MS = envPositiveNumber('BENCH_IDLE_LEASE_MS', 300)
const DAY_MS = 86_400_000
const LEASES_PER_DAY = NODES * DAY_MS / TUNABLES.leaseIntervalMs.default
const MB = 1e6

interface Bevy { dir: string, procs: NodeProcess[], ready: ReadyMessage[] }

/** Bevies running now, so an interrupted run stops their processes and removes their storage. */
const running = new Set<Bevy>()

/** Starts a founder and NODES - 1 joiners (one after another) with the given extra flags. */
async function startBevy (dht: PrivateDht, label: string, flags: string[]): Promise<Bevy> {
  const dir = await mkdtemp(join(tmpdir(), `bench-idle-${label}-`))
  const bevy: Bevy = { dir, procs: [], ready: [] }
  running.add(bevy)
  const launch = async (i: number, more: string[]) => {
    const proc = spawnNode(['--storage', join(dir, `n${i}`), '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap,
      '--log-level', 'warn', '--zone', `z${i % 3}`, ...flags, ...more])
    bevy.procs.push(proc)
    bevy.ready.push(await proc.ready)
  }
  await launch(0, [])
  const { invite } = await api<{ invite: string }>(bevy.ready[0]!, 'POST', '/api/invites', { uses: NODES - 1 })
  for (let i = 1; i < NODES; i++) {
    await launch(i, ['--join', invite])
    process.stderr.write(`\r${label}: ${i + 1}/${NODES} nodes up`)
  }
  process.stderr.write('\n')
  return bevy
}

async function stopBevy (bevy: Bevy): Promise<void> {
  running.delete(bevy)
  await Promise.all(bevy.procs.map(async (p) => await p.stop()))
  await rm(bevy.dir, { recursive: true, force: true })
}

/** Leases written so far by every node, as node 0's view has them; null if it did not answer. */
async function leasesWritten (node: ReadyMessage): Promise<number | null> {
  try {
    const status = await api<StatusReport>(node, 'GET', '/api/status')
    return status.nodes.reduce((sum, n) => sum + Math.max(0, n.heartbeatSeq ?? 0), 0)
  } catch (err) {
    process.stderr.write(`status call failed (${(err as Error).message}); retrying\n`)
    return null
  }
}

async function leasesWrittenNow (node: ReadyMessage): Promise<number> {
  for (;;) {
    const leases = await leasesWritten(node)
    if (leases !== null) return leases
    await sleep(1000)
  }
}

/** Least-squares slope of y against x. */
function slope (points: Array<{ x: number, y: number }>): number {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0)
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx
}

async function diskPhase (dht: PrivateDht): Promise<{ days: number, diskMb: number, growthMbPerDay: number, capped: boolean }> {
  const flags = ['--heartbeat-interval-ms', String(FAST_LEASE_MS), '--lease-interval-ms', String(FAST_LEASE_MS), '--lease-mesh-interval-ms', String(FAST_LEASE_MS),
    '--suspect-after-ms', '1500', '--down-after-ms', '3000', '--rejoin-stable-ms', '1000', '--disk-usage-interval-ms', '5000']
  const bevy = await startBevy(dht, 'disk', flags)
  const points: Array<{ x: number, y: number }> = []
  const started = Date.now()
  const base = await leasesWrittenNow(bevy.ready[0]!)
  let days = 0
  let capped = false
  try {
    console.log('sim_day  disk_mb(max of nodes)  real_s')
    for (let next = SAMPLE_DAYS; days < DAYS; next += SAMPLE_DAYS) {
      while ((days = (await leasesWrittenNow(bevy.ready[0]!) - base) / LEASES_PER_DAY) < next) {
        if (Date.now() - started > MAX_MS) { capped = true; break }
        await sleep(1000)
      }
      const sizes = await Promise.all(bevy.ready.map(async (r) => await dirBytes(r.storage)))
      const mb = Math.max(...sizes) / MB
      points.push({ x: days, y: mb })
      console.log(`${days.toFixed(2).padStart(7)}  ${mb.toFixed(1).padStart(21)}  ${((Date.now() - started) / 1000).toFixed(0).padStart(6)}`)
      if (capped) break
    }
  } finally {
    await stopBevy(bevy)
  }
  const last = points.at(-1) ?? { x: 0, y: 0 }
  const window = Math.min(3, last.x * 3 / 7)
  const growth = slope(points.filter((p) => p.x >= last.x - window))
  return { days: last.x, diskMb: last.y, growthMbPerDay: growth, capped }
}

function procStatus (pid: number): { rssMb: number, switches: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? 0)
  return { rssMb: field('VmRSS') / 1024, switches: field('voluntary_ctxt_switches') + field('nonvoluntary_ctxt_switches') }
}

async function watch (pid: number): Promise<{ cpuPct: number, rssMb: number, wakeupsPerSec: number }> {
  const a = cpuMark([pid])
  const s0 = procStatus(pid)
  await sleep(WINDOW_MS)
  const s1 = procStatus(pid)
  return { cpuPct: cpuPct(a, cpuMark([pid])), rssMb: s1.rssMb, wakeupsPerSec: (s1.switches - s0.switches) / (WINDOW_MS / 1000) }
}

async function idlePhase (dht: PrivateDht): Promise<{ node: Awaited<ReturnType<typeof watch>>, baseline: Awaited<ReturnType<typeof watch>> }> {
  const bevy = await startBevy(dht, 'idle', [])
  try {
    await sleep(SETTLE_MS)
    const watched = bevy.procs.at(-1)!.child.pid!
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    try {
      const [node, baseline] = await Promise.all([watch(watched), watch(bare.pid!)])
      return { node, baseline }
    } finally {
      bare.kill()
    }
  } finally {
    await stopBevy(bevy)
  }
}

const dht = await startPrivateDht()
const removeSignalHandlers = cleanUpOnSignal(async () => {
  await Promise.all([...running].map(stopBevy))
  await dht.close()
})
try {
  console.log(`bench:idle — ${NODES} nodes on loopback; a simulated day = ${LEASES_PER_DAY} leases (default lease every ${TUNABLES.leaseIntervalMs.default / 1000} s)`)
  const disk = await diskPhase(dht)
  console.log(disk.capped
    ? `disk: stopped at the time cap after ${disk.days.toFixed(2)} of ${DAYS} simulated days; figures below are at that point`
    : `disk: ${disk.days.toFixed(2)} simulated days`)
  const idle = await idlePhase(dht)
  const f = (n: number, d = 2) => n.toFixed(d)
  console.log(`idle node over ${WINDOW_MS / 1000} s: cpu ${f(idle.node.cpuPct)}% rss ${f(idle.node.rssMb, 0)} MB wakeups ${f(idle.node.wakeupsPerSec, 0)}/s` +
    ` | bare node baseline: cpu ${f(idle.baseline.cpuPct)}% rss ${f(idle.baseline.rssMb, 0)} MB wakeups ${f(idle.baseline.wakeupsPerSec, 0)}/s` +
    ` | ratio cpu ${f(idle.node.cpuPct / Math.max(idle.baseline.cpuPct, 0.01), 0)}x rss ${f(idle.node.rssMb / idle.baseline.rssMb, 1)}x`)
  const met = (ok: boolean) => ok ? 'met' : 'NOT met'
  console.log(`targets: disk_mb_7d <= 200 (${met(disk.diskMb <= 200)}${disk.capped ? ', run capped early' : ''}), growth_mb_per_day <= 5 (${met(disk.growthMbPerDay <= 5)}), idle_cpu_pct <= 0.5 (${met(idle.node.cpuPct <= 0.5)}), rss_mb <= 120 (${met(idle.node.rssMb <= 120)})`)
  console.log(`idle: disk_mb_7d=${f(disk.diskMb, 1)} growth_mb_per_day=${f(disk.growthMbPerDay)} idle_cpu_pct=${f(idle.node.cpuPct)} rss_mb=${f(idle.node.rssMb, 0)}`)
} finally {
  removeSignalHandlers()
  await dht.close()
}
