// The signals a routing decision weighs for one cloud's replicas: placement's replica set, the
// view's loads, this node's liveness judgement, what connected peers ping directly, and its own
// request evidence. Pure, so the node's request path and the simulator's clients build them the
// same way.
import type { Liveness, LivenessTracker, Placement, ReplicaSignal } from '../placement/index.js'
import type { Load } from '../protocol/index.js'
import type { RouteFeedback } from './route-feedback.js'
import type { ClusterSnapshot } from './view/snapshot.js'

/** One replica of a cloud with the signals routing weighs. */
export interface RoutedReplica extends ReplicaSignal {
  url: string
  zone: string
  /** This node itself. */
  local: boolean
}

export interface SignalSources {
  placement: Placement | null
  snapshot: ClusterSnapshot
  tracker: LivenessTracker
  nowMs: number
  /** This node's id (hex), or null before it has one. */
  selfHex: string | null
  /** Whether this node's own copy of the cloud is complete; it knows first hand, the view lags. */
  localSynced: (cloudHex: string) => boolean
  feedback: RouteFeedback
  /** Direct evidence from connected peers (node/peer-pings.ts); fresher than the view when present. */
  direct?: DirectEvidence
}

export interface DirectEvidence {
  /** A connected peer's liveness by its pings and the load it last pinged, or null without pings. */
  evidence: (nodeHex: string, nowMs: number) => { liveness: Liveness, load: Load } | null
}

const RANK: Record<Liveness, number> = { live: 0, suspect: 1, down: 2 }

/**
 * A base URL the router can send a client to (in a Location header) and connect to: http(s) and
 * visible characters only. The view checks only an announced URL's length, and a member's own
 * announce always passes this; one that does not is no route, rather than a header Node refuses.
 */
const ROUTABLE_URL = /^https?:\/\/[\x21-\x7e]+$/
/** ROUTABLE_URL's verdict per URL: routing asks for every replica of every request. */
const routableUrls = new Map<string, boolean>()

function routable (url: string): boolean {
  let verdict = routableUrls.get(url)
  if (verdict === undefined) {
    if (routableUrls.size >= 10_000) routableUrls.clear() // one entry per node URL ever seen
    verdict = ROUTABLE_URL.test(url)
    routableUrls.set(url, verdict)
  }
  return verdict
}

/** The better of two judgements: either fresh heartbeat (view or ping) shows the node is up. */
function bestOf (view: Liveness, direct: Liveness | null): Liveness {
  return direct !== null && RANK[direct] < RANK[view] ? direct : view
}

export function replicaSignals (cloudHex: string, src: SignalSources): RoutedReplica[] {
  const out: RoutedReplica[] = []
  for (const r of src.placement?.replicaSet(cloudHex) ?? []) {
    const node = src.snapshot.byId.get(r.node)
    if (node === undefined || !routable(node.record.url)) continue
    const local = r.node === src.selfHex
    const direct = local ? null : src.direct?.evidence(r.node, src.nowMs) ?? null
    // A late peer's pinged load is stale; the view's may be fresher.
    const load = direct !== null && direct.liveness === 'live' ? direct.load : node.heartbeat?.load
    out.push({
      node: r.node,
      url: node.record.url,
      zone: node.record.zone,
      local,
      synced: local ? src.localSynced(cloudHex) : r.synced,
      liveness: local ? 'live' : bestOf(src.tracker.routeState(r.node, src.nowMs), direct?.liveness ?? null),
      loadPermille: load === undefined ? 0 : Math.max(load.cpuPermille, load.eventLoopPermille),
      inFlight: src.feedback.inFlightTo(r.node),
      lastFailureMs: local ? null : src.feedback.lastFailureMs(r.node)
    })
  }
  return out
}
