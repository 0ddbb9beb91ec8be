// Plays the fault schedule against the node processes on the wall clock. A fault waits (and the
// delay is reported) if the previous outage has not healed yet, e.g. a restart slower than
// planned: keeping at most max-down nodes out matters more than keeping the planned time.
import { setTimeout as sleep } from 'node:timers/promises'
import { READY_TIMEOUT_MS, type ChaosCluster } from './cluster.js'
import { describeFault, FAULT_KINDS, type Fault, type FaultKind } from './schedule.js'

const POLL_MS = 50

export interface FaultStats {
  injected: Record<FaultKind, number>
  /** Planned faults not injected because healing the previous ones ran past the fault window. */
  skipped: number
  /** How late each fault started against its planned offset. */
  lateMs: number[]
  /** Spawn to ready of every restart. */
  restartMs: number[]
  /** SIGTERM to exit of every graceful stop. */
  termExitMs: number[]
  /** Restarts that did not come up, and the like: the run fails on these. */
  errors: string[]
  /** When the last outage healed, ms after the fault phase began. */
  healedAtMs: number
}

export async function injectFaults (cluster: ChaosCluster, faults: Fault[], o: { maxDown: number, durationMs: number, signal?: AbortSignal, log: (line: string) => void }): Promise<FaultStats> {
  const stats: FaultStats = {
    injected: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    lateMs: [],
    restartMs: [],
    termExitMs: [],
    errors: [],
    skipped: 0,
    healedAtMs: 0
  }
  const t0 = Date.now()
  const since = () => ((Date.now() - t0) / 1000).toFixed(1)
  const outages: Promise<void>[] = []
  for (const f of faults) {
    const wait = t0 + f.atMs - Date.now()
    if (wait > 0) await sleep(wait, undefined, { signal: o.signal })
    const waitedFrom = Date.now()
    while (cluster.out().length >= o.maxDown || cluster.nodes[f.node]!.state !== 'up') {
      if (Date.now() - waitedFrom > READY_TIMEOUT_MS + 10_000) {
        stats.errors.push(`fault #${f.index}: n${f.node} or another node still out ${READY_TIMEOUT_MS + 10_000} ms later; skipped`)
        break
      }
      await sleep(POLL_MS, undefined, { signal: o.signal })
    }
    if (cluster.out().length >= o.maxDown || cluster.nodes[f.node]!.state !== 'up') continue
    // The window is the run's duration: a fault that slipped past it is not injected.
    if (Date.now() - t0 >= o.durationMs) {
      stats.skipped++
      o.log(`  t=${since()} s  ${describeFault(f)}: skipped, the fault window is over`)
      continue
    }
    const late = Date.now() - t0 - f.atMs
    stats.lateMs.push(late)
    stats.injected[f.kind]++
    o.log(`  t=${since()} s  ${describeFault(f)}${late > 250 ? ` (started ${late} ms late: waiting for the last outage to heal)` : ''}`)
    outages.push(outage(cluster, f, stats, o.signal).then(() => {
      stats.healedAtMs = Math.max(stats.healedAtMs, Date.now() - t0)
      o.log(`  t=${since()} s  #${String(f.index).padStart(2, '0')} healed: n${f.node} up again`)
    }, (err: unknown) => {
      if ((err as Error)?.name === 'AbortError') return
      stats.errors.push(`fault #${f.index} (${f.kind} n${f.node}): ${err instanceof Error ? err.message : String(err)}`)
    }))
  }
  await Promise.all(outages)
  return stats
}

async function outage (cluster: ChaosCluster, f: Fault, stats: FaultStats, signal?: AbortSignal): Promise<void> {
  switch (f.kind) {
    case 'pause':
      cluster.pause(f.node)
      try { await sleep(f.outageMs, undefined, { signal }) } finally { cluster.resume(f.node) }
      return
    case 'kill':
      await cluster.kill(f.node)
      break
    case 'term':
      stats.termExitMs.push(await cluster.term(f.node))
      break
  }
  await sleep(f.outageMs, undefined, { signal })
  stats.restartMs.push(await cluster.restart(f.node))
}
