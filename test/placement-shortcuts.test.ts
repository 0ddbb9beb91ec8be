// The engine's shortcuts give exactly what the plain computation gives: a subset's ranking read
// off a deeper ranking, the packed refilled clouds, per-node target lists and counts read off the
// reference, computations shared between identical node inputs, load caps from replica counts,
// and node seeds taken from the reference.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { rankAmong, rankedNodes, rankTop, type AssignCloud } from '../placement/assign.js'
import { seedsOf, weightOf } from '../placement/hash.js'
import { PlacementEngine, type PlacementCloud, type PlacementNode } from '../placement/index.js'
import { Refilled } from '../placement/refilled.js'
import { loadCaps, replicaCounts } from '../placement/shares.js'
import { hex, nodeFields } from './placement-arbs.js'

const nodeArb = fc.record({ ...nodeFields(7), serving: fc.boolean() })
const nodesArb = fc.uniqueArray(nodeArb, { minLength: 1, maxLength: 40, selector: (n) => n.id })
const cloudsArb = fc.uniqueArray(fc.record({ key: hex, replicas: fc.integer({ min: 1, max: 4 }) }), { maxLength: 150, selector: (c) => c.key })

test('a subset ranking read off the full ranking is the subset ranked on its own', () => {
  fc.assert(fc.property(nodesArb, hex, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), (nodes, key, depth, k) => {
    const all = rankedNodes(nodes)
    const subset = nodes.filter((n) => n.eligible)
    const ranked = rankedNodes(subset)
    const [a, b] = seedsOf(key)
    const cloud: AssignCloud = { key, replicas: 3, a, b }
    const toSubset = Int32Array.from(all.ids, (id) => ranked.ids.indexOf(id))
    const full = Int32Array.from(rankTop(cloud, all, Math.min(depth, all.ids.length)))
    const read = rankAmong(full, 0, full.length, full.length === all.ids.length, toSubset, k)
    const direct = rankTop(cloud, ranked, k)
    // A truncated ranking may run out; when it answers, it answers exactly.
    if (read !== null) assert.deepEqual(read, direct)
    else assert.ok(full.length < all.ids.length)
  }), { numRuns: 300 })
})

test('packed refilled clouds give back every member list and nothing else', () => {
  const filled = new Map([[2, [5, 1, 3]], [7, [0]], [40, [2, 4]]])
  const packed = Refilled.pack(filled)
  assert.equal(packed.size, 3)
  for (const [pos, members] of filled) assert.deepEqual(packed.membersAt(pos), members)
  for (const pos of [0, 3, 39, 41]) assert.equal(packed.membersAt(pos), undefined)
  assert.throws(() => Refilled.pack(new Map([[3, [1]], [2, [0]]])))
})

test('per-node lists and counts, a reused engine and a shared computation agree with a fresh one', () => {
  fc.assert(fc.property(nodesArb, cloudsArb, fc.array(fc.integer({ min: 0, max: 39 }), { maxLength: 6 }), (nodes, clouds, downs) => {
    const warm = new PlacementEngine({ epsilonPermille: 100 })
    warm.compute({ nodes, clouds, holdings: new Map() })
    // Some other nodes go down; the warm engine reuses its reference and rankings.
    const later: PlacementNode[] = nodes.map((n, i) => downs.includes(i) ? { ...n, eligible: false, serving: false } : n)
    const reused = warm.compute({ nodes: later, clouds, holdings: new Map() })
    const shared = warm.compute({ nodes: later.map((n) => ({ ...n })), clouds: [...clouds], holdings: new Map() })
    assert.equal(shared.targetsToken, reused.targetsToken, 'the same node input shares one computation')
    const fresh = new PlacementEngine({ epsilonPermille: 100 }).compute({ nodes: later, clouds, holdings: new Map() })
    const byNode = new Map<string, string[]>()
    for (const c of clouds as PlacementCloud[]) {
      assert.deepEqual(reused.targets(c.key), fresh.targets(c.key))
      for (const id of fresh.targets(c.key) ?? []) byNode.set(id, [...byNode.get(id) ?? [], c.key])
    }
    const order = new Map(fresh.cloudKeys.map((key, i) => [key, i]))
    for (const n of later) {
      const expected = (byNode.get(n.id) ?? []).sort((x, y) => (order.get(x) as number) - (order.get(y) as number))
      assert.deepEqual(reused.targetsOf(n.id), expected)
      assert.equal(reused.targetCount(n.id), expected.length)
      // Positions are the same list, numbered in processing order, for this reference only.
      assert.deepEqual([...reused.targetPositionsOf(n.id)], expected.map((key) => order.get(key)))
    }
    assert.equal(reused.referenceToken, shared.referenceToken, 'one engine, one reference')
    assert.notEqual(reused.referenceToken, fresh.referenceToken, 'each engine makes its own reference')
    assert.deepEqual(reused.targetLoad(), fresh.targetLoad())
  }), { numRuns: 150 })
})

test('load caps from the clouds\' replica counts are the caps from the clouds', () => {
  fc.assert(fc.property(nodesArb, cloudsArb, fc.constantFrom(null, 0, 50, 100), (nodes, clouds, epsilon) => {
    const shareNodes = nodes.map((n) => ({ id: n.id, zone: n.zone, weight: weightOf(n.capacityBytes) }))
    assert.deepEqual(loadCaps(shareNodes, replicaCounts(clouds), epsilon), loadCaps(shareNodes, clouds, epsilon))
  }), { numRuns: 150 })
})

test('ranked nodes with seeds looked up are the ranked nodes with seeds hashed', () => {
  fc.assert(fc.property(nodesArb, (nodes) => {
    const all = rankedNodes(nodes)
    const some = nodes.filter((n) => n.eligible)
    const seedOf = (id: string) => all.seeds[all.ids.indexOf(id)] as number
    assert.deepEqual(rankedNodes(some, seedOf), rankedNodes(some))
  }), { numRuns: 150 })
})
