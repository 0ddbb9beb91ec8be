// chooseReplica: which replicas may take a request, how the choice leans away from load, when
// a node serves itself, and that a seed replays the same choices.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { chooseReplica, rankReplicas, type ChooseParams, type ReplicaSignal } from '../placement/index.js'
import { seededRng } from '../protocol/index.js'

const params: ChooseParams = { nowMs: 100_000, suspectAfterMs: 5000, self: null, inFlightCostPermille: 50, localMarginPermille: 200 }

function replica (node: string, over: Partial<ReplicaSignal> = {}): ReplicaSignal {
  return { node, liveness: 'live', synced: true, loadPermille: 0, inFlight: 0, lastFailureMs: null, ...over }
}

function shares (replicas: ReplicaSignal[], p: ChooseParams, draws: number, seed = 7): Map<string, number> {
  const rng = seededRng(seed)
  const counts = new Map<string, number>(replicas.map((r) => [r.node, 0]))
  for (let i = 0; i < draws; i++) {
    const pick = chooseReplica(replicas, p, rng)
    if (pick !== null) counts.set(pick.node, counts.get(pick.node)! + 1)
  }
  return counts
}

test('the share of choices falls as load rises (0.9, 0.5, 0.1)', () => {
  const replicas = [replica('a', { loadPermille: 900 }), replica('b', { loadPermille: 500 }), replica('c', { loadPermille: 100 })]
  const counts = shares(replicas, params, 30_000)
  const [a, b, c] = ['a', 'b', 'c'].map((n) => counts.get(n)!)
  assert.ok(a! < b! && b! < c!, `shares ${a}/${b}/${c} should rise as load falls`)
  // Two choices among three: the busiest is never picked, since it loses to either other one.
  assert.equal(a, 0)
})

test('equal loads share the requests about evenly, so no router herds onto one replica', () => {
  const replicas = ['a', 'b', 'c'].map((n) => replica(n, { loadPermille: 300 }))
  const counts = shares(replicas, params, 30_000)
  for (const n of ['a', 'b', 'c']) assert.ok(Math.abs(counts.get(n)! - 10_000) < 1000, `${n} got ${counts.get(n)}`)
})

test('in-flight requests count as load, so a burst spreads out', () => {
  const replicas = [replica('a', { inFlight: 20 }), replica('b')]
  assert.equal(shares(replicas, params, 1000).get('a'), 0)
})

test('suspect, down, unsynced and recently failed replicas are never chosen', () => {
  const replicas = [
    replica('suspect', { liveness: 'suspect' }),
    replica('down', { liveness: 'down' }),
    replica('unsynced', { synced: false }),
    replica('failed', { lastFailureMs: params.nowMs - 1000 }),
    replica('ok', { loadPermille: 1000 })
  ]
  assert.deepEqual([...shares(replicas, params, 2000)].filter(([, n]) => n > 0), [['ok', 2000]])
  assert.equal(chooseReplica(replicas.slice(0, 4), params, seededRng(1)), null)
  // A local failure stops counting once it is older than suspectAfterMs.
  const old = replica('failed', { lastFailureMs: params.nowMs - params.suspectAfterMs })
  assert.equal(chooseReplica([old], params, seededRng(1))?.node, 'failed')
})

test('this node serves itself unless it is clearly busier than the pick', () => {
  const p = { ...params, self: 'me' }
  const others = [replica('x', { loadPermille: 100 }), replica('y', { loadPermille: 100 })]
  assert.equal(shares([replica('me', { loadPermille: 250 }), ...others], p, 1000).get('me'), 1000)
  assert.equal(shares([replica('me', { loadPermille: 400 }), ...others], p, 1000).get('me'), 0)
  // Not a candidate (not synced yet): it does not serve, however idle.
  assert.equal(shares([replica('me', { synced: false }), ...others], p, 1000).get('me'), 0)
})

test('rankReplicas lists candidates best first, then the rest', () => {
  const ranked = rankReplicas([
    replica('down', { liveness: 'down' }), replica('busy', { loadPermille: 800 }), replica('idle', { loadPermille: 10 })
  ], params)
  assert.deepEqual(ranked.map((r) => r.node), ['idle', 'busy', 'down'])
})

test('property: the choice is always a candidate, and the same seed replays the same choices', () => {
  const signal = fc.record({
    node: fc.string({ minLength: 1, maxLength: 4 }),
    liveness: fc.constantFrom('live', 'suspect', 'down'),
    synced: fc.boolean(),
    loadPermille: fc.integer({ min: 0, max: 1000 }),
    inFlight: fc.integer({ min: 0, max: 50 }),
    lastFailureMs: fc.option(fc.integer({ min: 0, max: params.nowMs }))
  }) as fc.Arbitrary<ReplicaSignal>
  fc.assert(fc.property(fc.uniqueArray(signal, { selector: (r) => r.node, maxLength: 6 }), fc.integer(), (replicas, seed) => {
    const run = () => Array.from({ length: 20 }, (_, i) => chooseReplica(replicas, params, seededRng(seed + i))?.node ?? null)
    const picks = run()
    assert.deepEqual(run(), picks)
    const allowed = new Set(replicas.filter((r) => r.liveness === 'live' && r.synced &&
      (r.lastFailureMs === null || params.nowMs - r.lastFailureMs >= params.suspectAfterMs)).map((r) => r.node))
    for (const pick of picks) assert.ok(pick === null ? allowed.size === 0 : allowed.has(pick))
  }), { seed: 42, numRuns: 300 })
})
