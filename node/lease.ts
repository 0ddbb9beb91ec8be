// When a node renews its lease (its heartbeat record) in the shared view. Pure. Every lease costs
// a log entry on every node, so an idle node writes one per leaseIntervalMs; a load that moved
// materially is written sooner, so routers that judge by the view (not connected to the node)
// and the status page see it.
import type { Load } from '../protocol/index.js'

export interface Lease { nowMs: number, load: Load }

export function leaseDue (last: Lease | null, next: Lease, config: { leaseIntervalMs: number, leaseLoadDeltaPermille: number }): boolean {
  if (last === null || next.nowMs - last.nowMs >= config.leaseIntervalMs || next.nowMs < last.nowMs) return true
  return loadMoved(last.load, next.load, config.leaseLoadDeltaPermille)
}

function loadMoved (a: Load, b: Load, deltaPermille: number): boolean {
  return Math.abs(a.cpuPermille - b.cpuPermille) >= deltaPermille || Math.abs(a.memPermille - b.memPermille) >= deltaPermille || Math.abs(a.eventLoopPermille - b.eventLoopPermille) >= deltaPermille
}
