// Fleet benchmark: `npm run bench:fleet`. BENCH_FLEET_NODES (10) `bevy start --secret S`
// processes started at the same moment on a private loopback DHT, timed from the spawn until
//   one_bevy_ms  every node reports the same bevy key, and
//   all_live_ms  every node also sees all the others live.
// Baseline, in the same run: the same number of nodes formed the manual way (one founds, the
// others start at once with one invite made for them), timed from the founder's spawn until
// every node sees all the others live. Ratios are fleet / baseline (below 1: the fleet is faster).
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import type { StatusReport } from '../node/status.js'
import { api } from './lib/bevy.js'
import { cleanUpOnSignal, envPositiveInt, fmt, progress, ratio3, say, waitFor } from './lib/util.js'

const NODES = envPositiveInt('BENCH_FLEET_NODES', 10)
const TIMEOUT_MS = 180_000

interface Formed { oneBevyMs: number, allLiveMs: number }

function args (storage: string, dht: PrivateDht, extra: string[]): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap, '--log-level', 'warn', ...extra]
}

/** Polls every node's status until all name one bevy, then until all see every node live. */
async function timeFormation (started: number, nodes: ReadyMessage[]): Promise<Formed> {
  let oneBevyMs = Number.NaN
  await waitFor('all nodes to agree and see each other live', TIMEOUT_MS, async () => {
    const reports = await Promise.all(nodes.map(async (n) => await api<StatusReport>(n, 'GET', '/api/status').catch(() => null)))
    if (reports.some((r) => r === null)) return false
    const bevies = new Set(reports.map((r) => r?.bevy))
    if (bevies.size !== 1) return false
    if (Number.isNaN(oneBevyMs)) oneBevyMs = performance.now() - started
    return reports.every((r) => r !== null && r.nodes.length === nodes.length && r.nodes.every((n) => n.state === 'live'))
  }, 50)
  return { oneBevyMs, allLiveMs: performance.now() - started }
}

async function fleetRun (dht: PrivateDht, dir: string, procs: NodeProcess[]): Promise<Formed> {
  const secret = 'bench-fleet-secret-' + process.pid
  const started = performance.now()
  for (let i = 0; i < NODES; i++) procs.push(spawnNode(args(join(dir, `fleet-${i}`), dht, ['--secret', secret])))
  const ready = await Promise.all(procs.slice(-NODES).map((p) => p.ready))
  return await timeFormation(started, ready)
}

async function inviteRun (dht: PrivateDht, dir: string, procs: NodeProcess[]): Promise<Formed> {
  const started = performance.now()
  const founder = spawnNode(args(join(dir, 'invite-0'), dht, []))
  procs.push(founder)
  const first = await founder.ready
  const { invite } = await api<{ invite: string }>(first, 'POST', '/api/invites', { uses: NODES - 1 })
  const rest: NodeProcess[] = []
  for (let i = 1; i < NODES; i++) rest.push(spawnNode(args(join(dir, `invite-${i}`), dht, ['--join', invite])))
  procs.push(...rest)
  const ready = [first, ...await Promise.all(rest.map((p) => p.ready))]
  return await timeFormation(started, ready)
}

async function main (): Promise<void> {
  progress(`fleet benchmark: ${NODES} nodes, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-fleet-'))
  const dht = await startPrivateDht({ port: 0 })
  const procs: NodeProcess[] = []
  const cleanup = async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM').catch(() => {})))
    await dht.close()
    await rm(dir, { recursive: true, force: true })
  }
  const release = cleanUpOnSignal(cleanup)
  try {
    progress('baseline: one founder, the others join with one invite')
    const baseline = await inviteRun(dht, dir, procs)
    progress(`baseline: all live after ${fmt(baseline.allLiveMs, 0)} ms`)
    await Promise.all(procs.splice(0).map((p) => p.stop('SIGTERM')))
    progress(`fleet: ${NODES} nodes with one secret, started at once`)
    const fleet = await fleetRun(dht, dir, procs)
    say(`fleet:    one bevy after ${fmt(fleet.oneBevyMs, 0)} ms, all live after ${fmt(fleet.allLiveMs, 0)} ms`)
    say(`baseline: all live after ${fmt(baseline.allLiveMs, 0)} ms (founder first, then ${NODES - 1} joiners with one invite)`)
    say(`ratio all_live fleet/baseline ${ratio3(fleet.allLiveMs, baseline.allLiveMs)}`)
    process.stdout.write(`fleet: nodes=${NODES} one_bevy_ms=${fmt(fleet.oneBevyMs, 0)} all_live_ms=${fmt(fleet.allLiveMs, 0)}\n`)
  } finally {
    release()
    await cleanup()
  }
}

main().catch((err) => {
  process.stderr.write(`bench:fleet failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
