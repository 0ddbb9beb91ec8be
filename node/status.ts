// Builds the /api/status report from a snapshot and this node's liveness judgement. Pure.
import { formatKey, isGone, type Load } from '../protocol/index.js'
import type { LivenessTracker } from '../placement/liveness.js'
import type { ClusterSnapshot, NodeView } from './view/snapshot.js'

export type NodeStatusState = 'live' | 'suspect' | 'down' | 'draining' | 'left'

export interface NodeStatus {
  id: string
  url: string
  zone: string
  state: NodeStatusState
  indexer: boolean
  capacity: number
  /** Takes no new replicas: its disk or cloud cap is reached (it keeps serving what it holds). */
  full: boolean
  load: { cpu: number, mem: number, eventLoop: number, rssBytes: number, memFreeBytes: number, connections: number } | null
  heartbeatSeq: number | null
  heartbeatAgeMs: number | null
  clouds: number
  /** Bytes of cloud data the node reports holding (sum over the clouds it holds). */
  cloudBytes: number
}

export interface StatusReport {
  /**
   * diskBytes: what this node's whole storage directory occupies on disk, last measured.
   * replicasHeld: clouds placed here or still copied here (what `bevy leave` waits to hand off).
   */
  node: { id: string, url: string, zone: string, diskBytes: number, replicasHeld: number }
  bevy: string
  nodes: NodeStatus[]
}

export function nodeState (node: NodeView, tracker: LivenessTracker, nowMs: number): NodeStatusState {
  // An evicted node is reported left: gone for good, by the operator's hand rather than its own.
  if (isGone(node.record.state)) return 'left'
  const liveness = tracker.state(node.idHex, nowMs)
  // A draining node that is down is reported down: that is the more urgent fact.
  if (node.drained && liveness !== 'down') return 'draining'
  return liveness
}

export function buildStatus (opts: {
  /** Clouds whose replica set includes the node (hex id). */
  cloudsOf: (idHex: string) => number
  snapshot: ClusterSnapshot
  tracker: LivenessTracker
  nowMs: number
  self: StatusReport['node']
  bevy: Buffer
  /**
   * A node's load fresher than its lease, if known: this node's own last sample, a connected
   * peer's last ping. Leases come minutes apart at idle; the lease's load is the fallback.
   */
  freshLoad?: (idHex: string) => Load | null
}): StatusReport {
  const cloudBytes = cloudBytesByNode(opts.snapshot)
  return {
    node: opts.self,
    bevy: formatKey(opts.bevy),
    nodes: opts.snapshot.nodes.map((node) => {
      const hb = node.heartbeat
      const load = opts.freshLoad?.(node.idHex) ?? hb?.load ?? null
      return {
        id: formatKey(node.record.nodeId),
        url: node.record.url,
        zone: node.record.zone,
        state: nodeState(node, opts.tracker, opts.nowMs),
        indexer: node.indexer,
        capacity: node.record.capacity,
        full: node.full,
        load: load === null
          ? null
          : {
              cpu: load.cpuPermille / 1000,
              mem: load.memPermille / 1000,
              eventLoop: load.eventLoopPermille / 1000,
              rssBytes: load.rssBytes,
              memFreeBytes: load.memFreeBytes,
              connections: load.connections
            },
        heartbeatSeq: hb === null ? null : hb.seq,
        heartbeatAgeMs: opts.tracker.ageMs(node.idHex, opts.nowMs),
        clouds: opts.cloudsOf(node.idHex),
        cloudBytes: cloudBytes.get(node.idHex) ?? 0
      }
    })
  }
}

/** Hex node id → bytes of the clouds it holds, by its own progress reports. */
function cloudBytesByNode (snapshot: ClusterSnapshot): Map<string, number> {
  const bytes = new Map<string, number>()
  for (const [cloud, perNode] of snapshot.holdings) {
    const progress = snapshot.progress.get(cloud)
    for (const node of perNode.keys()) bytes.set(node, (bytes.get(node) ?? 0) + (progress?.get(node)?.bytesHad ?? 0))
  }
  return bytes
}
