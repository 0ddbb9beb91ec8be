// Which replica answers a request. Pure: the caller passes the time, the view's loads, its own
// in-flight counts and failures, and an RNG. Power of two choices rather than "least loaded",
// because loads read from heartbeats are stale and every router herding onto the one replica
// that looked idle is the classic failure (Mitzenmacher; Envoy's least-request).
import { rngInt, type Rng } from '../protocol/ports.js'
import type { Liveness } from './liveness.js'

export interface ReplicaSignal {
  /** Node id, hex. */
  node: string
  liveness: Liveness
  synced: boolean
  /** Load from the node's last heartbeat, 0..1000. */
  loadPermille: number
  /** Requests this router has in flight to the node right now. */
  inFlight: number
  /** When a request this router sent to the node last failed, or null. */
  lastFailureMs: number | null
}

export interface ChooseParams {
  nowMs: number
  /** A local failure counts against a replica for this long, like a stale heartbeat does. */
  suspectAfterMs: number
  /** This node's id, hex; it serves locally when it is a candidate and not clearly busier. */
  self: string | null
  /** Load one in-flight request adds to a replica's score, in permille. */
  inFlightCostPermille: number
  /** How much busier than the pick this node may be and still serve the request itself. */
  localMarginPermille: number
}

/** Live, synced replicas without a recent local failure: the only ones a request may go to. */
export function isCandidate (r: ReplicaSignal, p: Pick<ChooseParams, 'nowMs' | 'suspectAfterMs'>): boolean {
  return r.liveness === 'live' && r.synced && (r.lastFailureMs === null || p.nowMs - r.lastFailureMs >= p.suspectAfterMs)
}

/** Lower is better: the view's load plus what this router already sends there. */
export function replicaScore (r: ReplicaSignal, p: Pick<ChooseParams, 'inFlightCostPermille'>): number {
  return r.loadPermille + r.inFlight * p.inFlightCostPermille
}

/** The replica for one request, or null when no replica is a candidate. */
export function chooseReplica<T extends ReplicaSignal> (replicas: readonly T[], p: ChooseParams, rng: Rng): T | null {
  const candidates = replicas.filter((r) => isCandidate(r, p))
  if (candidates.length === 0) return null
  const pick = twoChoices(candidates, p, rng)
  const self = p.self === null ? undefined : candidates.find((r) => r.node === p.self)
  if (self !== undefined && replicaScore(self, p) <= replicaScore(pick, p) + p.localMarginPermille) return self
  return pick
}

/** Every replica, best first: candidates by score, then the rest. For clients that balance themselves. */
export function rankReplicas<T extends ReplicaSignal> (replicas: readonly T[], p: Omit<ChooseParams, 'self' | 'localMarginPermille'>): T[] {
  const keyed = replicas.map((r) => ({ r, candidate: isCandidate(r, p), score: replicaScore(r, p) }))
  keyed.sort((a, b) => Number(b.candidate) - Number(a.candidate) || a.score - b.score || (a.r.node < b.r.node ? -1 : 1))
  return keyed.map((k) => k.r)
}

function twoChoices<T extends ReplicaSignal> (candidates: readonly T[], p: ChooseParams, rng: Rng): T {
  if (candidates.length === 1) return candidates[0]!
  const i = rngInt(rng, candidates.length)
  // The second draw skips the first, so the two are always distinct.
  const j = (i + 1 + rngInt(rng, candidates.length - 1)) % candidates.length
  const a = candidates[i]!
  const b = candidates[j]!
  return replicaScore(b, p) < replicaScore(a, p) ? b : a
}
