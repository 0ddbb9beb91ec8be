// The fault schedule: drawn entirely from the seed before any process starts, so the same seed
// gives the same faults at the same offsets. Real processes run on the wall clock, so a replay
// repeats the schedule, not the exact interleaving with what the nodes were doing.
import { rngInt, seededRng } from '../../protocol/ports.js'

export type FaultKind = 'kill' | 'pause' | 'term'

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'term']

export interface Fault {
  index: number
  /** Offset from the start of the fault phase. */
  atMs: number
  kind: FaultKind
  /** Node index, 0-based (n0 is the founder). */
  node: number
  /**
   * kill/term: time between the process exiting and its restart on the same storage;
   * pause: time between SIGSTOP and SIGCONT.
   */
  outageMs: number
}

/**
 * Outages straddle the test liveness windows (suspect 1.5 s, down 3 s): short ones exercise the
 * router avoiding a node, long ones make placement move replicas and then take the node back.
 */
const OUTAGE_MS: Record<FaultKind, [number, number]> = {
  kill: [1000, 6000],
  pause: [1000, 5000],
  term: [500, 4000]
}
/**
 * What a restart takes, spawn to ready (measured 2-4 s on a loaded 2-core machine): planned in,
 * so the schedule does not drift far behind the wall clock when outages must not overlap.
 */
const RESTART_ALLOWANCE_MS = 3000
/** Quiet time after an outage ends before the next fault may start when at max-down. */
const GAP_AFTER_MS: [number, number] = [1500, 4000]
/** Time between fault starts while fewer than max-down nodes are out. */
const GAP_BETWEEN_MS: [number, number] = [500, 3000]
const FIRST_AT_MS: [number, number] = [500, 2500]

export function planFaults (o: { seed: number, nodes: number, durationMs: number, maxDown: number }): Fault[] {
  const rng = seededRng(o.seed)
  const between = ([lo, hi]: [number, number]) => lo + rngInt(rng, hi - lo + 1)
  const faults: Fault[] = []
  let active: Array<{ node: number, endMs: number }> = []
  let t = between(FIRST_AT_MS)
  while (t < o.durationMs) {
    active = active.filter((a) => a.endMs > t)
    if (active.length >= o.maxDown) {
      // Wait for the earliest outage to end, then a quiet gap so the node is back before the next.
      t = Math.min(...active.map((a) => a.endMs)) + between(GAP_AFTER_MS)
      continue
    }
    const candidates = Array.from({ length: o.nodes }, (_, i) => i).filter((i) => !active.some((a) => a.node === i))
    const node = candidates[rngInt(rng, candidates.length)]!
    const kind = FAULT_KINDS[rngInt(rng, FAULT_KINDS.length)]!
    const outageMs = between(OUTAGE_MS[kind])
    faults.push({ index: faults.length, atMs: t, kind, node, outageMs })
    active.push({ node, endMs: t + outageMs + (kind === 'pause' ? 0 : RESTART_ALLOWANCE_MS) })
    t += between(GAP_BETWEEN_MS)
  }
  return faults
}

export function describeFault (f: Fault): string {
  const what = f.kind === 'kill'
    ? `SIGKILL n${f.node}, restart after ${f.outageMs} ms`
    : f.kind === 'term'
      ? `SIGTERM n${f.node}, restart ${f.outageMs} ms after it exits`
      : `SIGSTOP n${f.node}, SIGCONT after ${f.outageMs} ms`
  return `#${String(f.index).padStart(2, '0')} at ${(f.atMs / 1000).toFixed(1).padStart(6)} s  ${f.kind.padEnd(5)} ${what}`
}
