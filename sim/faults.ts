// Turns a scenario's fault specs into a concrete, timed schedule. Which nodes and zones are hit
// and when exactly comes from the run's RNG, so the schedule is part of what a seed replays.
import { rngInt, rngShuffle, type Rng } from '../protocol/index.js'
import type { Scenario } from './scenario.js'

export type Action =
  | { kind: 'crash' | 'restart' | 'pause' | 'resume' | 'unspike' | 'join' | 'drain', node: number }
  | { kind: 'skew', node: number, offsetMs: number }
  | { kind: 'spike', node: number, loadPermille: number }
  | { kind: 'partition', side: number[] }
  | { kind: 'heal' }

export interface Scheduled { atMs: number, action: Action }

export interface Schedule {
  actions: Scheduled[]
  /** Nodes that exist at the start; the rest join during the run. */
  initialNodes: number
  totalNodes: number
  /** When the last fault stops: recovery is measured from here. */
  faultsEndMs: number
}

export function buildSchedule (scenario: Scenario, nodes: number, zoneOf: (node: number) => number, rng: Rng): Schedule {
  const growth = scenario.faults.reduce((f, spec) => spec.kind === 'grow' ? f * spec.factor : f, 1)
  const totalNodes = Math.max(nodes, Math.round(nodes * growth))
  const actions: Scheduled[] = []
  let existing = nodes
  let faultsEndMs = 0
  const add = (atMs: number, action: Action, ends = true) => {
    actions.push({ atMs, action })
    if (ends) faultsEndMs = Math.max(faultsEndMs, atMs)
  }
  const pick = (count: number) => shuffled(existing, rng).slice(0, Math.min(count, existing))
  const outage = (node: number, atMs: number, forMs: number | null) => {
    add(atMs, { kind: 'crash', node })
    if (forMs !== null) add(atMs + forMs, { kind: 'restart', node })
  }

  for (const spec of [...scenario.faults].sort((a, b) => a.at - b.at)) {
    switch (spec.kind) {
      case 'crash': for (const n of pick(spec.nodes)) outage(n, spec.at, spec.restartAfter); break
      case 'zone-down': {
        const zones = new Set(shuffled(scenario.zones, rng).slice(0, spec.zones))
        for (let n = 0; n < existing; n++) if (zones.has(zoneOf(n))) outage(n, spec.at, spec.for)
        break
      }
      case 'partition':
        add(spec.at, { kind: 'partition', side: shuffled(existing, rng).slice(0, Math.floor(existing / 2)).sort((a, b) => a - b) })
        add(spec.at + spec.for, { kind: 'heal' })
        break
      case 'flap':
        for (const n of pick(spec.nodes)) {
          for (let t = spec.at; t < spec.at + spec.for; t += spec.period) outage(n, t, Math.max(1, Math.floor(spec.period / 2)))
        }
        break
      case 'churn': {
        const count = Math.max(1, Math.round(existing * spec.fraction))
        for (const n of pick(count)) outage(n, spec.at + rngInt(rng, spec.within), spec.downFor)
        break
      }
      case 'skew': for (const n of pick(spec.nodes)) add(spec.at, { kind: 'skew', node: n, offsetMs: spec.offset }, false); break
      case 'pause':
        for (const n of pick(spec.nodes)) {
          add(spec.at, { kind: 'pause', node: n })
          add(spec.at + spec.for, { kind: 'resume', node: n })
        }
        break
      case 'load-spike':
        for (const n of pick(spec.nodes)) {
          add(spec.at, { kind: 'spike', node: n, loadPermille: spec.loadPermille })
          add(spec.at + spec.for, { kind: 'unspike', node: n })
        }
        break
      case 'rolling-restart':
        shuffled(existing, rng).forEach((n, i) => outage(n, spec.at + i * spec.every, spec.downFor))
        break
      case 'grow': {
        const target = Math.min(totalNodes, Math.round(existing * spec.factor))
        const joining = target - existing
        for (let i = 0; i < joining; i++) add(spec.at + Math.floor(i * spec.within / Math.max(1, joining)), { kind: 'join', node: existing + i })
        existing = target
        break
      }
      case 'drain': for (const n of pick(spec.nodes)) add(spec.at, { kind: 'drain', node: n }); break
    }
  }
  actions.sort((a, b) => a.atMs - b.atMs)
  return { actions, initialNodes: nodes, totalNodes, faultsEndMs }
}

/** 0..n-1 in an order drawn from `rng`. */
function shuffled (n: number, rng: Rng): number[] {
  return rngShuffle(Array.from({ length: n }, (_, i) => i), rng)
}

export function describeAction (a: Action, nameOf: (n: number) => string): string {
  switch (a.kind) {
    case 'partition': return `partition: ${a.side.length} nodes cut off (${a.side.map(nameOf).join(' ')})`
    case 'heal': return 'heal: the network is whole again'
    case 'skew': return `skew ${nameOf(a.node)} by ${a.offsetMs} ms`
    case 'spike': return `load-spike ${nameOf(a.node)} to ${a.loadPermille}‰`
    default: return `${a.kind} ${nameOf(a.node)}`
  }
}

