// A full node (its disk or cloud cap reached) takes no new replicas but keeps those it holds,
// and the clouds it would have taken go to other nodes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { PlacementEngine, type Holding, type PlacementCloud, type PlacementNode } from '../placement/index.js'
import { hex, nodeFields, TiB } from './placement-arbs.js'

const nodeArb = fc.record({ ...nodeFields(8), serving: fc.constant(true), full: fc.integer({ min: 0, max: 9 }).map((n) => n < 2) })
const nodesArb = fc.uniqueArray(nodeArb, { minLength: 1, maxLength: 24, selector: (n) => n.id })
const cloudsArb = fc.uniqueArray(fc.record({ key: hex, replicas: fc.integer({ min: 1, max: 4 }) }), { maxLength: 80, selector: (c) => c.key })

/** Holdings where each node holds a random half of the clouds placed on it when nobody was full. */
function holdingsOf (engine: PlacementEngine, nodes: PlacementNode[], clouds: PlacementCloud[], seed: number): Map<string, Map<string, Holding>> {
  const open = engine.compute({ nodes: nodes.map((n) => ({ ...n, full: false })), clouds, holdings: new Map() })
  const holdings = new Map<string, Map<string, Holding>>()
  let s = seed >>> 0
  for (const cloud of clouds) {
    for (const node of open.targets(cloud.key) ?? []) {
      s = (s * 1103515245 + 12345) >>> 0
      if ((s >>> 16) % 2 === 0) continue
      let held = holdings.get(cloud.key)
      if (held === undefined) holdings.set(cloud.key, held = new Map())
      held.set(node, { synced: true })
    }
  }
  return holdings
}

test('a full node keeps only targets it holds, and every cloud still gets its replicas from the others', () => {
  fc.assert(fc.property(nodesArb, cloudsArb, fc.integer(), (nodes, clouds, seed) => {
    const engine = new PlacementEngine({ epsilonPermille: 100 })
    const holdings = holdingsOf(engine, nodes, clouds, seed)
    const placement = engine.compute({ nodes, clouds, holdings })
    const open = nodes.filter((n) => n.eligible && !n.full).length
    for (const cloud of clouds) {
      const targets = placement.targets(cloud.key) ?? []
      assert.equal(new Set(targets).size, targets.length, 'no node twice')
      for (const id of targets) {
        const node = nodes.find((n) => n.id === id) as PlacementNode
        assert.ok(node.eligible, 'targets are eligible')
        if (node.full === true) assert.ok(holdings.get(cloud.key)?.has(id), 'a full node is a target only of clouds it holds')
      }
      assert.ok(targets.length >= Math.min(cloud.replicas, open), 'the open nodes make up the replica count')
    }
    // Targets are computed per input: the same input on a fresh engine gives the same answer.
    const fresh = new PlacementEngine({ epsilonPermille: 100 }).compute({ nodes, clouds, holdings })
    for (const cloud of clouds) assert.deepEqual(fresh.targets(cloud.key), placement.targets(cloud.key))
    for (const node of nodes) assert.equal(placement.targetCount(node.id), placement.targetsOf(node.id).length)
  }), { numRuns: 200, seed: 424242 })
})

test('a node that fills up keeps what it holds; one that frees space takes its share again', () => {
  const nodes: PlacementNode[] = ['a', 'b', 'c', 'd'].map((z, i) => ({ id: String(i).repeat(64), zone: z, capacityBytes: TiB, eligible: true, serving: true }))
  const clouds = Array.from({ length: 60 }, (_, i) => ({ key: i.toString(16).padStart(64, '0'), replicas: 2 }))
  const engine = new PlacementEngine({ epsilonPermille: 100 })
  const before = engine.compute({ nodes, clouds, holdings: new Map() })
  const full = nodes[0] as PlacementNode
  const mine = before.targetsOf(full.id)
  assert.ok(mine.length > 0)
  // It holds every cloud it was given: filling up changes nothing for them.
  const holdings = new Map<string, Map<string, Holding>>()
  for (const cloud of clouds) holdings.set(cloud.key, new Map((before.targets(cloud.key) ?? []).map((n) => [n, { synced: true }])))
  const filled = engine.compute({ nodes: nodes.map((n) => n === full ? { ...n, full: true } : n), clouds, holdings })
  assert.deepEqual([...filled.targetsOf(full.id)].sort(), [...mine].sort())
  // New clouds go elsewhere.
  const more = [...clouds, ...Array.from({ length: 40 }, (_, i) => ({ key: (1000 + i).toString(16).padStart(64, '0'), replicas: 2 }))]
  const grown = engine.compute({ nodes: nodes.map((n) => n === full ? { ...n, full: true } : n), clouds: more, holdings })
  assert.deepEqual([...grown.targetsOf(full.id)].sort(), [...mine].sort(), 'no new cloud lands on the full node')
  for (const cloud of more) assert.equal(grown.targets(cloud.key)?.length, 2)
  // Space again: the node takes its share of the new clouds too.
  const freed = engine.compute({ nodes, clouds: more, holdings })
  assert.ok(freed.targetsOf(full.id).length > mine.length)
})
