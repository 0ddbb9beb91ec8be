// Reconciling only some clouds decides them exactly as a full reconcile does, and the simulator,
// which reconciles only the clouds whose inputs changed, leaves nothing a full reconcile would do.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { Reconciler, type LocalHoldings } from '../node/reconciler.js'
import type { ClusterSnapshot } from '../node/view/snapshot.js'
import { PlacementEngine } from '../placement/index.js'
import { loadScenario } from '../sim/scenario.js'
import { simulate } from '../sim/simulator.js'

const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))

/** A bevy of a few nodes and clouds, with random holdings in the view and on this node's disk. */
const stateArb = fc.record({
  nodes: fc.uniqueArray(hex, { minLength: 2, maxLength: 6 }),
  clouds: fc.uniqueArray(hex, { minLength: 1, maxLength: 20 }),
  down: fc.integer({ min: 0, max: 5 }),
  held: fc.array(fc.tuple(fc.nat(19), fc.nat(5), fc.boolean()), { maxLength: 40 }),
  local: fc.array(fc.tuple(fc.nat(19), fc.constantFrom<boolean | null>(true, false, null)), { maxLength: 10 }),
  released: fc.array(fc.nat(19), { maxLength: 5 })
})

test('reconcileClouds over every candidate cloud gives what reconcile gives, and inReplicaSet is cloudsOf', () => {
  fc.assert(fc.property(stateArb, (s) => {
    const self = s.nodes[0] as string
    const holdings = new Map<string, Map<string, { synced: boolean }>>()
    const heldBy: ClusterSnapshot['heldBy'] = new Map()
    for (const [c, n, synced] of s.held) {
      const cloud = s.clouds[c % s.clouds.length] as string
      const node = s.nodes[n % s.nodes.length] as string
      holdings.set(cloud, (holdings.get(cloud) ?? new Map()).set(node, { synced }))
      heldBy.set(node, (heldBy.get(node) ?? new Set()).add(cloud))
    }
    const placement = new PlacementEngine({ epsilonPermille: 100 }).compute({
      nodes: s.nodes.map((id, i) => ({ id, zone: `z${i % 3}`, capacityBytes: 2 ** 40, eligible: i !== s.down, serving: i !== s.down })),
      clouds: s.clouds.map((key) => ({ key, replicas: 2 })),
      holdings,
      heldBy
    })
    const open = new Map(s.local.map(([c, synced]) => [s.clouds[c % s.clouds.length] as string, synced]))
    const released = new Set(s.released.map((c) => s.clouds[c % s.clouds.length] as string))
    const local: LocalHoldings = {
      holds: (c) => open.has(c),
      released: (c) => released.has(c) && !open.has(c),
      synced: (c) => open.get(c) ?? null,
      heldClouds: () => open.keys()
    }
    const snapshot = { holdings, heldBy } as unknown as ClusterSnapshot
    let lamport = 0
    const full = new Reconciler({ selfHex: self, nextLamport: () => ++lamport }).reconcile(snapshot, placement, local)
    lamport = 0
    const some = new Reconciler({ selfHex: self, nextLamport: () => ++lamport }).reconcileClouds(s.clouds, snapshot, placement, local)
    const sorted = (a: ReturnType<Reconciler['reconcile']>) => ({
      open: [...a.open].sort(),
      release: [...a.release].sort(),
      ops: a.ops.map((op) => JSON.stringify({ ...op, lamport: 0 })).sort()
    })
    assert.deepEqual(sorted(some), sorted(full))
    const mine = new Set(placement.cloudsOf(self))
    for (const cloud of s.clouds) assert.equal(placement.inReplicaSet(cloud, self), mine.has(cloud), cloud)
  }), { numRuns: 300 })
})

test('the simulator reconciles only changed clouds and leaves nothing a full reconcile would do', async (t) => {
  for (const [name, seed] of [['churn-storm', 20261121], ['growth', 7], ['partition', 3], ['pause', 1], ['drain', 2]] as const) {
    await t.test(`${name} (seed ${seed})`, async () => {
      // verifyIncremental throws on the first partial reconcile that left work behind.
      const result = await simulate({ seed, scenario: loadScenario(name), verifyIncremental: true })
      assert.ok(result.summary.requests > 0)
    })
  }
})
