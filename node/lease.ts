// When a node renews its lease (its heartbeat record) in the shared view. Pure.
//
// A lease tells the nodes that do not hear this node's pings that it lives; connected peers judge
// it by its pings. Every lease costs every node ~30 ms of CPU (the append's replication fan-out
// and the indexers' acks that follow it), so a lease is written only when someone needs it:
// - a member lost its ping link to this node: at once, so it does not take this node for down;
// - while every member this node judges alive hears its pings: once per leaseMeshIntervalMs,
//   which keeps the records fresh for nodes that start later;
// - otherwise (a partial mesh): once per leaseIntervalMs, and sooner when the load moved
//   materially (at most once per leaseLoadMinIntervalMs), so routers that judge by the view see it.
// "Materially" is judged on a smoothed load: a one-second CPU sample on a shared machine swings by
// more than any useful threshold, and renewing on every swing (measured: ~8 leases a minute per
// node instead of 2) made each lease cost CPU that moved the load again.
import type { Load } from '../protocol/index.js'

export interface Lease { nowMs: number, load: Load }

export interface LeaseConfig { leaseIntervalMs: number, leaseLoadDeltaPermille: number, leaseLoadMinIntervalMs: number, leaseMeshIntervalMs: number }

/** Who hears this node's pings, as it knows from its own links. */
export interface Hearing {
  /** Every member this node does not judge down has a ping link to it. */
  allLinked: boolean
  /** A member lost its last ping link to this node since the last lease. */
  linkLost: boolean
}

const NOBODY_HEARS: Hearing = { allLinked: false, linkLost: false }

export function leaseDue (last: Lease | null, next: Lease, config: LeaseConfig, hearing: Hearing = NOBODY_HEARS): boolean {
  const sinceMs = last === null ? 0 : next.nowMs - last.nowMs
  if (last === null || sinceMs < 0 || hearing.linkLost) return true
  if (hearing.allLinked) return sinceMs >= Math.max(config.leaseMeshIntervalMs, config.leaseIntervalMs)
  if (sinceMs >= config.leaseIntervalMs) return true
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
