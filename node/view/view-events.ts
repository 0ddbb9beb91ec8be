// What changed between two snapshots of the view, as events for the operator: nodes that joined,
// left, drained; clouds added and removed; replicas taken (a move), synced, and let go after a
// handoff. Pure. Sections a refresh did not touch are shared by identity and skipped at once.
import { formatKey, NodeState } from '../../protocol/index.js'
import type { BevyEventInput } from '../events.js'
import type { ClusterSnapshot } from './snapshot.js'

export function viewEvents (prev: ClusterSnapshot, next: ClusterSnapshot): BevyEventInput[] {
  const out: BevyEventInput[] = []
  const text = (hex: string) => formatKey(Buffer.from(hex, 'hex'))
  if (prev.nodes !== next.nodes) {
    for (const node of next.nodes) {
      const id = formatKey(node.record.nodeId)
      const before = prev.byId.get(node.idHex)
      if (before === undefined) {
        out.push({ kind: 'join', node: id, message: `node joined (zone ${node.record.zone})` })
        continue
      }
      if (before.record.state !== NodeState.LEFT && node.record.state === NodeState.LEFT) out.push({ kind: 'leave', node: id, message: 'node left the bevy' })
      if (before.record.state !== NodeState.EVICTED && node.record.state === NodeState.EVICTED) out.push({ kind: 'evict', node: id, message: 'node evicted by an operator' })
      if (before.drained !== node.drained) out.push({ kind: node.drained ? 'drain' : 'undrain', node: id, message: node.drained ? 'node draining' : 'node undrained' })
    }
  }
  if (prev.clouds !== next.clouds) {
    for (const cloud of next.clouds) {
      const before = prev.cloudByKey.get(cloud.keyHex)
      if (before === undefined) out.push({ kind: 'cloud-added', cloud: text(cloud.keyHex), message: `cloud registered with ${cloud.replicas} replicas` })
      else if (before.replicas !== cloud.replicas) out.push({ kind: 'cloud-added', cloud: text(cloud.keyHex), message: `cloud now wants ${cloud.replicas} replicas` })
    }
    for (const cloud of prev.clouds) {
      if (!next.cloudByKey.has(cloud.keyHex)) out.push({ kind: 'cloud-removed', cloud: text(cloud.keyHex), message: 'cloud removed' })
    }
  }
  if (prev.holdings !== next.holdings) {
    for (const [cloudHex, holders] of next.holdings) {
      const before = prev.holdings.get(cloudHex)
      if (before === holders) continue
      const cloud = text(cloudHex)
      for (const [nodeHex, holding] of holders) {
        const had = before?.get(nodeHex)
        if (had === undefined) out.push({ kind: 'move', node: text(nodeHex), cloud, message: holding.synced ? 'holds a synced replica' : 'took a replica and is syncing it' })
        else if (!had.synced && holding.synced) out.push({ kind: 'synced', node: text(nodeHex), cloud, message: 'replica synced' })
      }
      for (const nodeHex of before?.keys() ?? []) {
        // A copy let go of while the cloud stays registered was handed off to a synced replica.
        if (!holders.has(nodeHex) && next.cloudByKey.has(cloudHex)) out.push({ kind: 'handoff', node: text(nodeHex), cloud, message: 'handed the replica off and let go of it' })
      }
    }
    for (const [cloudHex, before] of prev.holdings) {
      if (next.holdings.has(cloudHex) || !next.cloudByKey.has(cloudHex)) continue
      for (const nodeHex of before.keys()) out.push({ kind: 'handoff', node: text(nodeHex), cloud: text(cloudHex), message: 'handed the replica off and let go of it' })
    }
  }
  return out
}
