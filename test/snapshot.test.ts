// An incrementally refreshed snapshot equals a fresh read of the same view, whatever ops arrive
// in whatever batches: the simulator and placement's caches rely on it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { applyNodes } from '../node/view/apply.js'
import { readSnapshot, refreshSnapshot, type ClusterSnapshot } from '../node/view/snapshot.js'
import { ChangeTrackingStore, MemoryViewStore } from '../node/view/view-store.js'
import { EMPTY_LOAD, encodeOp, NO_INVITE, OpType, type Op } from '../protocol/index.js'

const key = (tag: number, i: number) => Buffer.alloc(32, tag * 16 + i)
const writers = [0, 1, 2].map((i) => key(1, i))
const nodes = [0, 1, 2].map((i) => key(2, i))
const clouds = [0, 1, 2, 3].map((i) => key(3, i))

/** One random op, written by node i's own writer (so node-only records are accepted). */
const opArb = fc.tuple(fc.nat(2), fc.nat(3), fc.nat(9), fc.nat(50), fc.boolean(), fc.boolean()).map(([n, c, kind, lamport, a, b]): [number, Op] => {
  const nodeId = nodes[n] as Buffer
  const cloud = clouds[c] as Buffer
  switch (kind) {
    case 0: return [n, { type: OpType.ANNOUNCE, lamport, nodeId, url: `http://n${n}`, zone: `z${lamport % 2}`, capacity: 100 }]
    case 1: case 2: return [n, { type: OpType.HEARTBEAT, nodeId, seq: lamport, clockMs: 0, load: EMPTY_LOAD }]
    case 3: return [n, { type: a ? OpType.DRAIN : OpType.UNDRAIN, lamport, nodeId }]
    case 4: return [n, { type: OpType.CLOUD_ADD, lamport, key: cloud, replicas: 1 + (lamport % 3) }]
    case 5: return [n, { type: OpType.CLOUD_REMOVE, lamport, key: cloud }]
    case 6: return [n, { type: OpType.LEAVE, lamport, nodeId }]
    case 7: return [n, { type: OpType.ADD_WRITER, key: writers[(n + 1) % 3] as Buffer, inviteId: NO_INVITE }]
    default: return [n, { type: OpType.CLOUD_HOLD, lamport, key: cloud, nodeId, held: a, synced: b }]
  }
})

function normal (s: ClusterSnapshot): unknown {
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m].sort(([a], [b]) => a.localeCompare(b))
  return {
    nodes: s.nodes,
    byId: sorted(s.byId),
    clouds: s.clouds,
    holdings: sorted(s.holdings).map(([k, v]) => [k, sorted(v)]),
    heldBy: sorted(s.heldBy).map(([k, v]) => [k, [...v].sort()]),
    progress: sorted(s.progress).map(([k, v]) => [k, sorted(v)]),
    maxLamport: s.maxLamport
  }
}

test('refreshSnapshot after any batches of ops equals readSnapshot of the same view', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.array(opArb, { maxLength: 8 }), { maxLength: 8 }), async (batches) => {
    const store = new ChangeTrackingStore(new MemoryViewStore())
    const host = { async addWriter () {}, async removeWriter () { return true } }
    // Announce every node first so node-only records have an owner.
    const intro = nodes.map((nodeId, i) => ({ value: encodeOp({ type: OpType.ANNOUNCE, lamport: 0, nodeId, url: `http://n${i}`, zone: 'z', capacity: 1 }), from: { key: writers[i] as Buffer } }))
    await applyNodes(intro, store, host, { maxIndexers: 3 })
    let snapshot = await readSnapshot(store)
    store.takeChanges()
    for (const batch of batches) {
      await applyNodes(batch.map(([n, op]) => ({ value: encodeOp(op), from: { key: writers[n] as Buffer } })), store, host, { maxIndexers: 3 })
      const before = snapshot
      snapshot = await refreshSnapshot(snapshot, store, store.takeChanges())
      assert.deepEqual(normal(snapshot), normal(await readSnapshot(store)))
      if (batch.length === 0) assert.equal(snapshot, before, 'nothing written: the same snapshot')
    }
  }), { seed: 20261121, numRuns: 150 })
})
