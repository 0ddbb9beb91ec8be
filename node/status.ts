// Builds the /api/status report from a snapshot and this node's liveness judgement. Pure.
import { formatKey, NodeState } from '../protocol/index.js'
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
  load: { cpu: number, mem: number, eventLoop: number, rssBytes: number, memFreeBytes: number, connections: number } | null
  heartbeatSeq: number | null
  heartbeatAgeMs: number | null
  clouds: number
}

export interface StatusReport {
  node: { id: string, url: string, zone: string }
  bevy: string
  nodes: NodeStatus[]
}

export function nodeState (node: NodeView, tracker: LivenessTracker, nowMs: number): NodeStatusState {
  if (node.record.state === NodeState.LEFT) return 'left'
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
  self: { id: string, url: string, zone: string }
  bevy: Buffer
}): StatusReport {
  return {
    node: opts.self,
    bevy: formatKey(opts.bevy),
    nodes: opts.snapshot.nodes.map((node) => {
      const hb = node.heartbeat
      return {
        id: formatKey(node.record.nodeId),
        url: node.record.url,
        zone: node.record.zone,
        state: nodeState(node, opts.tracker, opts.nowMs),
        indexer: node.indexer,
        capacity: node.record.capacity,
        load: hb === null
          ? null
          : {
              cpu: hb.load.cpuPermille / 1000,
              mem: hb.load.memPermille / 1000,
              eventLoop: hb.load.eventLoopPermille / 1000,
              rssBytes: hb.load.rssBytes,
              memFreeBytes: hb.load.memFreeBytes,
              connections: hb.load.connections
            },
        heartbeatSeq: hb === null ? null : hb.seq,
        heartbeatAgeMs: opts.tracker.ageMs(node.idHex, opts.nowMs),
        clouds: opts.cloudsOf(node.idHex)
      }
    })
  }
}
