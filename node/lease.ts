// When a node renews its lease (its heartbeat record) in the shared view. Pure. Every lease costs
// a log entry on every node, so an idle node writes one per leaseIntervalMs; a load that moved
// materially is written sooner (at most once per leaseLoadMinIntervalMs), so routers that judge
// by the view (not connected to the node) see it. "Materially" is judged on a smoothed load: a one-second CPU sample
// on a shared machine swings by more than any useful threshold, and renewing on every swing
// (measured: ~8 leases a minute per node instead of 2) made each lease cost CPU that moved the load again.
import type { Load } from '../protocol/index.js'

export interface Lease { nowMs: number, load: Load }

export interface LeaseConfig { leaseIntervalMs: number, leaseLoadDeltaPermille: number, leaseLoadMinIntervalMs: number }

export function leaseDue (last: Lease | null, next: Lease, config: LeaseConfig): boolean {
  const sinceMs = last === null ? 0 : next.nowMs - last.nowMs
  if (last === null || sinceMs >= config.leaseIntervalMs || sinceMs < 0) return true
  // Early renewals are rate-limited: on a shared machine a load may keep moving for minutes.
  return sinceMs >= config.leaseLoadMinIntervalMs && loadMoved(last.load, next.load, config.leaseLoadDeltaPermille)
}

/**
 * The load average after one more sample `elapsedMs` after the previous one: an exponential
 * moving average with time constant smoothingMs over the three load figures (the counters are
 * taken as sampled). A change that lasts about smoothingMs moves it by two thirds of the change.
 */
export function smoothLoad (previous: Load | null, sample: Load, elapsedMs: number, smoothingMs: number): Load {
  if (previous === null || smoothingMs <= 0) return sample
  const weight = elapsedMs <= 0 ? 0 : 1 - Math.exp(-elapsedMs / smoothingMs)
  const mix = (a: number, b: number) => Math.round(a + (b - a) * weight)
  return {
    ...sample,
    cpuPermille: mix(previous.cpuPermille, sample.cpuPermille),
    memPermille: mix(previous.memPermille, sample.memPermille),
    eventLoopPermille: mix(previous.eventLoopPermille, sample.eventLoopPermille)
  }
}

function loadMoved (a: Load, b: Load, deltaPermille: number): boolean {
  return Math.abs(a.cpuPermille - b.cpuPermille) >= deltaPermille || Math.abs(a.memPermille - b.memPermille) >= deltaPermille || Math.abs(a.eventLoopPermille - b.eventLoopPermille) >= deltaPermille
}
