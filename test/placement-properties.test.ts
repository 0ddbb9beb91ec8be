// Placement properties over random snapshots (fast-check). Each failure prints a replayable seed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { PlacementEngine, type PlacementCloud, type PlacementInput, type PlacementNode } from '../placement/index.js'
import { weightOf } from '../placement/hash.js'
import { loadCaps } from '../placement/shares.js'

const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const TiB = 2 ** 40

const nodeArb = fc.record({
  id: hex,
  zone: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  capacityBytes: fc.constantFrom(TiB, 2 * TiB, 4 * TiB),
  eligible: fc.integer({ min: 0, max: 9 }).map((n) => n < 7),
  serving: fc.constant(true)
})

const snapshotArb = fc.record({
  nodes: fc.uniqueArray(nodeArb, { minLength: 1, maxLength: 24, selector: (n) => n.id }),
  clouds: fc.uniqueArray(fc.record({ key: hex, replicas: fc.integer({ min: 1, max: 5 }) }), { maxLength: 120, selector: (c) => c.key }),
  epsilonPermille: fc.constantFrom(50, 100, 250)
})

const input = (nodes: PlacementNode[], clouds: PlacementCloud[]): PlacementInput => ({ nodes, clouds, holdings: new Map() })

function targetsOf (engine: PlacementEngine, nodes: PlacementNode[], clouds: PlacementCloud[]): Map<string, string[]> {
  const placement = engine.compute(input(nodes, clouds))
  return new Map(clouds.map((c) => [c.key, placement.targets(c.key) as string[]]))
}

function shuffled<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

const RUNS = { numRuns: 150 }

test('the same snapshot gives the same placement whatever the input order, cached or not', () => {
  fc.assert(fc.property(snapshotArb, fc.integer(), ({ nodes, clouds, epsilonPermille }, seed) => {
    const a = targetsOf(new PlacementEngine({ epsilonPermille }), nodes, clouds)
    const cached = new PlacementEngine({ epsilonPermille })
    cached.compute(input(shuffled(nodes, seed + 1), clouds))
    const b = targetsOf(cached, shuffled(nodes, seed), shuffled(clouds, seed + 2))
    assert.deepEqual(b, a)
  }), RUNS)
})

test('every cloud gets min(R, eligible) distinct targets, never an ineligible node', () => {
  fc.assert(fc.property(snapshotArb, ({ nodes, clouds, epsilonPermille }) => {
    const eligible = new Set(nodes.filter((n) => n.eligible).map((n) => n.id))
    for (const [key, targets] of targetsOf(new PlacementEngine({ epsilonPermille }), nodes, clouds)) {
      const cloud = clouds.find((c) => c.key === key) as PlacementCloud
      assert.equal(targets.length, Math.min(cloud.replicas, eligible.size))
      assert.equal(new Set(targets).size, targets.length, 'distinct')
      for (const t of targets) assert.ok(eligible.has(t), 'only eligible nodes are targets')
    }
  }), RUNS)
})

test('zones are spread whenever there are enough of them', () => {
  fc.assert(fc.property(snapshotArb, ({ nodes, clouds, epsilonPermille }) => {
    const zoneOf = new Map(nodes.map((n) => [n.id, n.zone]))
    const zones = new Set(nodes.filter((n) => n.eligible).map((n) => n.zone)).size
    for (const [key, targets] of targetsOf(new PlacementEngine({ epsilonPermille }), nodes, clouds)) {
      const r = targets.length
      const used = new Set(targets.map((t) => zoneOf.get(t))).size
      assert.equal(used, Math.min(r, zones), `cloud ${key.slice(0, 8)} uses ${used} zones of ${zones} for ${r} replicas`)
    }
  }), RUNS)
})

/** Whether any assignment of distinct replicas fits the caps (max-flow; zones ignored). */
function fitsWithinCaps (nodes: PlacementNode[], clouds: PlacementCloud[], caps: Map<string, number>): boolean {
  const C = clouds.length
  const N = nodes.length
  const source = C + N
  const sink = source + 1
  const capacity = Array.from({ length: sink + 1 }, () => new Map<number, number>())
  const edge = (u: number, v: number, c: number) => {
    capacity[u]?.set(v, (capacity[u]?.get(v) ?? 0) + c)
    if (capacity[v]?.has(u) !== true) capacity[v]?.set(u, 0)
  }
  let need = 0
  clouds.forEach((c, i) => {
    const r = Math.min(c.replicas, N)
    need += r
    edge(source, i, r)
    for (let j = 0; j < N; j++) edge(i, C + j, 1)
  })
  nodes.forEach((n, j) => edge(C + j, sink, caps.get(n.id) as number))
  let flow = 0
  for (;;) {
    const prev = new Array<number>(sink + 1).fill(-1)
    prev[source] = source
    const queue = [source]
    while (queue.length > 0 && prev[sink] === -1) {
      const u = queue.shift() as number
      for (const [v, c] of capacity[u] as Map<number, number>) if (c > 0 && prev[v] === -1) { prev[v] = u; queue.push(v) }
    }
    if (prev[sink] === -1) return flow === need
    let f = Infinity
    for (let v = sink; v !== source; v = prev[v] as number) f = Math.min(f, capacity[prev[v] as number]?.get(v) as number)
    for (let v = sink; v !== source; v = prev[v] as number) {
      const u = prev[v] as number
      capacity[u]?.set(v, (capacity[u]?.get(v) as number) - f)
      capacity[v]?.set(u, (capacity[v]?.get(u) as number) + f)
    }
    flow += f
  }
}

const capsOf = (nodes: PlacementNode[], clouds: PlacementCloud[], epsilonPermille: number) =>
  loadCaps(nodes.map((n) => ({ id: n.id, zone: n.zone, weight: weightOf(n.capacityBytes) })), clouds, epsilonPermille)

// The bound is ⌈(1+ε)·fair share⌉ with shares bent only where placement has no choice (see
// placement/shares.ts). Some tiny snapshots admit no placement within it at all (three 3-replica
// clouds on four nodes force the two small nodes to hold five replicas between them, whatever
// their weight); the promise is that the engine stays within the caps whenever that is possible.
test('the load bound holds whenever any placement within it exists (one zone, any replica counts)', () => {
  let checked = 0
  fc.assert(fc.property(snapshotArb, ({ nodes: all, clouds, epsilonPermille }) => {
    const nodes = all.map((n) => ({ ...n, zone: 'only', eligible: true }))
    const caps = capsOf(nodes, clouds, epsilonPermille)
    if (!fitsWithinCaps(nodes, clouds, caps)) return
    checked++
    const load = new PlacementEngine({ epsilonPermille }).compute(input(nodes, clouds)).targetLoad()
    for (const n of nodes) assert.ok((load.get(n.id) ?? 0) <= (caps.get(n.id) as number), `node ${n.id.slice(0, 8)}: ${load.get(n.id)} > cap ${caps.get(n.id)}`)
  }), RUNS)
  assert.ok(checked > RUNS.numRuns / 2, `most snapshots admit a placement (${checked})`)
})

test('the load bound holds with zones and weights for R = 3', () => {
  const arb = fc.record({
    nodes: fc.uniqueArray(nodeArb.map((n) => ({ ...n, eligible: true })), { minLength: 3, maxLength: 24, selector: (n) => n.id }),
    clouds: fc.uniqueArray(fc.record({ key: hex, replicas: fc.constant(3) }), { minLength: 30, maxLength: 300, selector: (c) => c.key }),
    epsilonPermille: fc.constantFrom(50, 100, 250)
  })
  fc.assert(fc.property(arb, ({ nodes, clouds, epsilonPermille }) => {
    const caps = capsOf(nodes, clouds, epsilonPermille)
    const load = new PlacementEngine({ epsilonPermille }).compute(input(nodes, clouds)).targetLoad()
    for (const n of nodes) assert.ok((load.get(n.id) ?? 0) <= (caps.get(n.id) as number), `node ${n.id.slice(0, 8)}: ${load.get(n.id)} > cap ${caps.get(n.id)}`)
  }), { numRuns: 60 })
})

test('with one zone and equal weights, the cap is exactly ⌈(1+ε)·T/N⌉', () => {
  fc.assert(fc.property(snapshotArb, ({ nodes, clouds, epsilonPermille }) => {
    const one = nodes.map((n) => ({ ...n, zone: 'only', eligible: true, capacityBytes: TiB }))
    const total = clouds.reduce((sum, c) => sum + Math.min(c.replicas, one.length), 0)
    const load = new PlacementEngine({ epsilonPermille }).compute(input(one, clouds)).targetLoad()
    const num = BigInt(1000 + epsilonPermille) * BigInt(total)
    const den = 1000n * BigInt(one.length)
    const cap = Number((num + den - 1n) / den)
    for (const n of one) assert.ok((load.get(n.id) ?? 0) <= cap, `${load.get(n.id)} > ${cap}`)
  }), RUNS)
})

test('fair shares respect one replica per node per cloud: a small node forced to hold every cloud is within its cap', () => {
  const nodes = [
    { id: '0'.repeat(64), zone: 'a', capacityBytes: TiB, eligible: true, serving: true },
    { id: '1'.repeat(64), zone: 'a', capacityBytes: 4 * TiB, eligible: true, serving: true }
  ]
  const clouds = [{ key: 'a'.repeat(64), replicas: 2 }, { key: 'b'.repeat(64), replicas: 2 }]
  const caps = loadCaps(nodes.map((n) => ({ id: n.id, zone: n.zone, weight: weightOf(n.capacityBytes) })), clouds, 50)
  assert.equal(caps.get('0'.repeat(64)), 3, 'its share is 2 (both clouds), not 4·1/5')
  const load = new PlacementEngine({ epsilonPermille: 50 }).compute(input(nodes, clouds)).targetLoad()
  assert.equal(load.get('0'.repeat(64)), 2)
})

test('a node going down or draining moves only the clouds that had it', () => {
  fc.assert(fc.property(snapshotArb, fc.nat(), ({ nodes, clouds, epsilonPermille }, pick) => {
    const live = nodes.map((n) => ({ ...n, eligible: true }))
    const engine = new PlacementEngine({ epsilonPermille })
    const before = targetsOf(engine, live, clouds)
    const gone = (live[pick % live.length] as PlacementNode).id
    const after = targetsOf(engine, live.map((n) => (n.id === gone ? { ...n, eligible: false } : n)), clouds)
    for (const [key, targets] of before) {
      if (!targets.includes(gone)) assert.deepEqual(after.get(key), targets, 'a cloud without the node kept its targets')
      else for (const t of targets) if (t !== gone) assert.ok(after.get(key)?.includes(t), 'the other targets stayed')
    }
  }), RUNS)
})

// Joining is judged within one zone: across zones the spread rule itself can force more (a node
// that opens a new zone must receive a replica of nearly every cloud). Small bevies move in whole
// replicas and cap rounding cascades a little, so single cases may pass 1.1x; the median may not.
// bench/placement.ts reports the ratio at scale.
test('a node joining takes about its fair share and little else moves', () => {
  const arb = fc.record({
    nodes: fc.uniqueArray(fc.record({ id: hex, zone: fc.constant('a'), capacityBytes: fc.constant(TiB), eligible: fc.constant(true), serving: fc.constant(true) }), { minLength: 3, maxLength: 30, selector: (n) => n.id }),
    clouds: fc.uniqueArray(fc.record({ key: hex, replicas: fc.constant(3) }), { minLength: 200, maxLength: 1500, selector: (c) => c.key }),
    joiner: hex
  })
  const ratios: number[] = []
  fc.assert(fc.property(arb, ({ nodes, clouds, joiner }) => {
    const before = targetsOf(new PlacementEngine({ epsilonPermille: 100 }), nodes, clouds)
    const joined = { id: joiner, zone: 'a', capacityBytes: TiB, eligible: true, serving: true }
    const after = targetsOf(new PlacementEngine({ epsilonPermille: 100 }), [...nodes, joined], clouds)
    let moved = 0
    for (const [key, targets] of after) moved += targets.filter((t) => !(before.get(key) as string[]).includes(t)).length
    const fairShare = (clouds.length * 3) / (nodes.length + 1)
    ratios.push(moved / fairShare)
    assert.ok(moved <= 1.5 * fairShare, `moved ${moved} for a fair share of ${fairShare.toFixed(1)}`)
  }), { numRuns: 100 })
  ratios.sort((x, y) => x - y)
  const median = ratios[Math.floor(ratios.length / 2)] as number
  assert.ok(median <= 1.1, `median moved/fair share ${median.toFixed(3)}`)
})
