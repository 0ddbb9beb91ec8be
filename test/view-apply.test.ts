// The view's apply: order-insensitive, authorising, and deaf to garbage.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { applyNodes, applyRaw, type ApplyContext, type InputNode } from '../node/view/apply.js'
import { readSnapshot } from '../node/view/snapshot.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import { EMPTY_LOAD, encodeOp, MAX_LAMPORT, NO_INVITE, NodeState, OpType, type Op } from '../protocol/index.js'
import { dump, hostFor, node } from './view-fixtures.js'

const ctx: ApplyContext = { maxIndexers: 3 }

const writerA = randomBytes(32)
const writerB = randomBytes(32)
const nodeA = randomBytes(32)
const nodeB = randomBytes(32)
const announce = (from: Buffer, nodeId: Buffer, lamport: number, url: string): InputNode =>
  node(from, { type: OpType.ANNOUNCE, lamport, nodeId, url, zone: 'z', capacity: 100 })
const heartbeat = (from: Buffer, nodeId: Buffer, seq: number): InputNode =>
  node(from, { type: OpType.HEARTBEAT, nodeId, seq, clockMs: seq * 1000, load: EMPTY_LOAD })

async function applyAll (nodes: InputNode[]): Promise<MemoryViewStore> {
  const store = new MemoryViewStore()
  await applyNodes(nodes, store, hostFor(), ctx)
  return store
}

function shuffle<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

test('the same set of ops gives the same view in any order (announce/heartbeat/drain/leave)', async () => {
  // Announces come first: heartbeats for an unknown node are rightly refused, which is the one
  // causal dependency Autobase guarantees anyway (a node's own ops are in its own order).
  const setup = [announce(writerA, nodeA, 1, 'http://a:1'), announce(writerB, nodeB, 2, 'http://b:1')]
  const rest = [
    announce(writerA, nodeA, 5, 'http://a:2'),
    announce(writerA, nodeA, 3, 'http://a:old'),
    heartbeat(writerA, nodeA, 1), heartbeat(writerA, nodeA, 7), heartbeat(writerA, nodeA, 4),
    heartbeat(writerB, nodeB, 2),
    node(writerB, { type: OpType.DRAIN, lamport: 10, nodeId: nodeA }),
    node(writerA, { type: OpType.UNDRAIN, lamport: 10, nodeId: nodeA }), // same lamport: writer key breaks the tie
    node(writerB, { type: OpType.LEAVE, lamport: 11, nodeId: nodeB })
  ]
  const reference = dump(await applyAll([...setup, ...rest]))
  for (let seed = 1; seed <= 40; seed++) {
    assert.equal(dump(await applyAll([...setup, ...shuffle(rest, seed)])), reference, `order ${seed} diverged`)
  }
  const snap = await readSnapshot(await applyAll([...setup, ...rest]))
  const a = snap.byId.get(nodeA.toString('hex'))
  assert.equal(a?.record.url, 'http://a:2')
  assert.equal(a?.heartbeat?.seq, 7)
  assert.equal(a?.drained, Buffer.compare(writerB, writerA) > 0)
  assert.equal(snap.byId.get(nodeB.toString('hex'))?.record.state, 1)
})

test('sync progress is last-writer-wins per cloud and node, in any order', async () => {
  const cloud = randomBytes(32)
  const at = (lamport: number, blocksHad: number) =>
    node(writerA, { type: OpType.CLOUD_PROGRESS, lamport, key: cloud, nodeId: nodeA, version: lamport, blocksHad, blocksTotal: 10, bytesHad: blocksHad * 100, bytesTotal: 1000, peers: 1 })
  const ops = [at(2, 3), at(5, 10), at(4, 7)]
  const reference = dump(await applyAll([announce(writerA, nodeA, 1, 'http://a:1'), ...ops]))
  for (let seed = 1; seed <= 10; seed++) {
    assert.equal(dump(await applyAll([announce(writerA, nodeA, 1, 'http://a:1'), ...shuffle(ops, seed)])), reference)
  }
  const snap = await readSnapshot(await applyAll([announce(writerA, nodeA, 1, 'http://a:1'), ...ops]))
  const record = snap.progress.get(cloud.toString('hex'))?.get(nodeA.toString('hex'))
  assert.equal(record?.blocksHad, 10)
  assert.equal(record?.version, 5)
})

test('garbage is skipped, reported, and leaves the view unchanged', async () => {
  const store = await applyAll([announce(writerA, nodeA, 1, 'http://a:1'), heartbeat(writerA, nodeA, 1)])
  const before = dump(store)
  const skipped: string[] = []
  const garbage: unknown[] = [randomBytes(0), randomBytes(1), Buffer.from([1]), Buffer.from([1, 3, 0xff]), randomBytes(300), 'not bytes', 7, { type: 2 }]
  for (let i = 0; i < 500; i++) garbage.push(randomBytes(1 + (i % 90)))
  await applyNodes(garbage.map((value) => ({ value, from: { key: writerA } })), store, hostFor(), { ...ctx, onSkip: (reason) => skipped.push(reason) })
  assert.equal(dump(store), before)
  assert.ok(skipped.length >= garbage.length - 5, 'nearly every garbage op is reported (a rare random one may decode to a stale no-op)')
})

test('a node may only write its own heartbeats, holdings, progress and leave; ids cannot be taken over', async () => {
  const store = await applyAll([announce(writerA, nodeA, 1, 'http://a:1')])
  const before = dump(store)
  const cloud = randomBytes(32)
  const progress = { version: 3, blocksHad: 1, blocksTotal: 2, bytesHad: 10, bytesTotal: 20, peers: 1 }
  for (const input of [
    heartbeat(writerB, nodeA, 9),
    node(writerB, { type: OpType.LEAVE, lamport: 9, nodeId: nodeA }),
    announce(writerB, nodeA, 9, 'http://evil'),
    node(writerB, { type: OpType.CLOUD_HOLD, lamport: 9, key: cloud, nodeId: nodeA, held: true, synced: true }),
    node(writerB, { type: OpType.CLOUD_PROGRESS, lamport: 9, key: cloud, nodeId: nodeA, ...progress })
  ]) {
    const outcome = await applyRaw(input.value, input.from.key, store, hostFor(), ctx)
    assert.equal(outcome.applied, false)
  }
  assert.equal(dump(store), before)
})

test('add-writer makes the first writers indexers, honours invite uses, and is idempotent', async () => {
  const added: Array<[string, boolean]> = []
  const store = new MemoryViewStore()
  const host = hostFor(added)
  const inviteId = randomBytes(32)
  const ops: Op[] = [
    { type: OpType.ADD_WRITER, key: writerA, inviteId: NO_INVITE },
    { type: OpType.INVITE, inviteId, publicKey: randomBytes(32), expiresMs: 1, uses: 2 }
  ]
  for (const op of ops) await applyRaw(encodeOp(op), writerA, store, host, ctx)
  const keys = [randomBytes(32), randomBytes(32), randomBytes(32)]
  const outcomes = []
  for (const key of keys) outcomes.push(await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key, inviteId }), writerA, store, host, ctx))
  assert.deepEqual(outcomes.map((o) => o.applied), [true, true, false], 'the third use of a two-use invite is refused')
  const again = await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key: keys[0] as Buffer, inviteId }), writerA, store, host, ctx)
  assert.equal(again.applied, false)
  assert.deepEqual(added.map(([, indexer]) => indexer), [true, true, true])
  const fourth = randomBytes(32)
  await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key: fourth, inviteId: NO_INVITE }), writerA, store, host, ctx)
  assert.deepEqual(added.at(-1), [fourth.toString('hex'), false], 'past maxIndexers, writers do not index')
})

test('an unknown invite admits nobody', async () => {
  const added: Array<[string, boolean]> = []
  const store = new MemoryViewStore()
  const outcome = await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key: randomBytes(32), inviteId: randomBytes(32) }), writerA, store, hostFor(added), ctx)
  assert.equal(outcome.applied, false)
  assert.equal(added.length, 0)
  assert.equal(store.entries.size, 0)
})

test('epoch ops: only the bootstrap seeds, only until sealed; the first proposal stands unless replaced by name', async () => {
  const bootstrap = randomBytes(32)
  const seeding: ApplyContext = { maxIndexers: 3, bootstrapKey: () => bootstrap }
  const store = new MemoryViewStore()
  const apply = (from: Buffer, op: Op) => applyRaw(encodeOp(op), from, store, hostFor(), seeding)
  const cloudKey = 'cloud/' + randomBytes(32).toString('hex')
  const seed = (done: boolean, key = cloudKey): Op => ({ type: OpType.SEED, epoch: 1, entries: [{ key, value: Buffer.from([1]) }], done })

  assert.equal((await apply(writerA, seed(false))).applied, false, 'a writer other than the bootstrap cannot seed')
  assert.equal((await apply(bootstrap, seed(false, 'writer/' + 'ab'.repeat(32)))).applied, false, 'writers are not seeded state')
  assert.equal((await apply(bootstrap, seed(true))).applied, true)
  assert.equal((await apply(bootstrap, seed(true))).applied, false, 'a sealed epoch takes no more seed')
  assert.ok(store.entries.has(cloudKey))

  // Proposals for epoch 2 (this view is epoch 1), by a node that announced itself.
  await apply(writerA, { type: OpType.ANNOUNCE, lamport: 1, nodeId: nodeA, url: 'http://a:1', zone: 'z', capacity: 1 })
  const first = randomBytes(32)
  const second = randomBytes(32)
  const propose = (epoch: number, key: Buffer, replaces = Buffer.alloc(32)): Op => ({ type: OpType.EPOCH_PROPOSE, nodeId: nodeA, epoch, key, replaces })
  assert.equal((await apply(writerB, propose(2, first))).applied, false, 'only the proposer itself may propose')
  assert.equal((await apply(writerA, propose(3, first))).applied, false, 'only the next epoch may be proposed')
  assert.equal((await apply(writerA, propose(2, first))).applied, true)
  assert.equal((await apply(writerA, propose(2, second))).applied, false, 'the first proposal stands')
  assert.equal((await apply(writerA, propose(2, second, first))).applied, true, 'a proposal that names the lost one replaces it')
})

test('rebind moves a node to a new writer key only when that key is a writer', async () => {
  const store = await applyAll([announce(writerA, nodeA, 1, 'http://a:1')])
  const fresh = randomBytes(32)
  const rebind: Op = { type: OpType.REBIND, nodeId: nodeA, writerKey: fresh }
  assert.equal((await applyRaw(encodeOp(rebind), writerB, store, hostFor(), ctx)).applied, false, 'not a writer yet')
  await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key: fresh, inviteId: NO_INVITE }), writerB, store, hostFor(), ctx)
  assert.equal((await applyRaw(encodeOp(rebind), writerB, store, hostFor(), ctx)).applied, true)
  const beat: Op = { type: OpType.HEARTBEAT, nodeId: nodeA, seq: 5, clockMs: 1, load: EMPTY_LOAD }
  assert.equal((await applyRaw(encodeOp(beat), writerA, store, hostFor(), ctx)).applied, false, 'the old key no longer speaks for the node')
  assert.equal((await applyRaw(encodeOp(beat), fresh, store, hostFor(), ctx)).applied, true, 'the new key does')
})

test('evict: the writer is removed, the node is gone for placement, and nothing it writes afterwards counts', async () => {
  const removed: string[] = []
  const store = new MemoryViewStore()
  const host = hostFor([], removed)
  const apply = (from: Buffer, op: Op) => applyRaw(encodeOp(op), from, store, host, ctx)
  for (const w of [writerA, writerB]) await apply(writerA, { type: OpType.ADD_WRITER, key: w, inviteId: NO_INVITE })
  await applyNodes([announce(writerA, nodeA, 1, 'http://a'), announce(writerB, nodeB, 1, 'http://b')], store, host, ctx)
  assert.equal((await apply(writerB, { type: OpType.EVICT, lamport: 2, nodeId: nodeB })).applied, false, 'a node cannot evict itself')
  assert.equal((await apply(writerA, { type: OpType.EVICT, lamport: 2, nodeId: randomBytes(32) })).applied, false, 'unknown nodes cannot be evicted')
  assert.equal((await apply(writerA, { type: OpType.EVICT, lamport: 2, nodeId: nodeB })).applied, true)
  assert.deepEqual(removed, [writerB.toString('hex')])
  const before = dump(store)
  const snapshot = await readSnapshot(store)
  assert.equal(snapshot.byId.get(nodeB.toString('hex'))?.record.state, NodeState.EVICTED)

  // Whatever the evicted writer sends later is skipped: its own records, cloud and admin ops, even a fresh announce.
  const cloud = randomBytes(32)
  const later: Op[] = [
    { type: OpType.HEARTBEAT, nodeId: nodeB, seq: 9, clockMs: 9, load: EMPTY_LOAD },
    { type: OpType.ANNOUNCE, lamport: 99, nodeId: nodeB, url: 'http://b2', zone: 'z', capacity: 1 },
    { type: OpType.LEAVE, lamport: 99, nodeId: nodeB },
    { type: OpType.CLOUD_ADD, lamport: 99, key: cloud, replicas: 1 },
    { type: OpType.DRAIN, lamport: 99, nodeId: nodeA },
    { type: OpType.ADD_WRITER, key: randomBytes(32), inviteId: NO_INVITE },
    { type: OpType.EVICT, lamport: 99, nodeId: nodeA }
  ]
  for (const op of later) assert.equal((await apply(writerB, op)).applied, false, `evicted writer's ${op.type} is skipped`)
  assert.equal(dump(store), before)
  assert.equal((await apply(writerA, { type: OpType.EVICT, lamport: 3, nodeId: nodeB })).applied, false, 'eviction happens once')
})

test('a revoked invite admits nobody, and revoking an unknown invite does nothing', async () => {
  const store = new MemoryViewStore()
  const added: Array<[string, boolean]> = []
  const host = hostFor(added)
  const inviteId = randomBytes(32)
  const apply = (op: Op) => applyRaw(encodeOp(op), writerA, store, host, ctx)
  await apply({ type: OpType.ADD_WRITER, key: writerA, inviteId: NO_INVITE })
  assert.equal((await apply({ type: OpType.INVITE_REVOKE, inviteId })).applied, false)
  await apply({ type: OpType.INVITE, inviteId, publicKey: randomBytes(32), expiresMs: 1, uses: 5 })
  assert.equal((await apply({ type: OpType.ADD_WRITER, key: randomBytes(32), inviteId })).applied, true)
  assert.equal((await apply({ type: OpType.INVITE_REVOKE, inviteId })).applied, true)
  assert.equal((await apply({ type: OpType.ADD_WRITER, key: randomBytes(32), inviteId })).applied, false, 'revoked: no further use')
  assert.equal(added.length, 2)
})

test('a stamp beyond MAX_LAMPORT is refused, so one peer cannot push every clock past what can be encoded', async () => {
  const seen: number[] = []
  const store = new MemoryViewStore()
  const host = hostFor()
  const stamps = { maxIndexers: 3, onLamport: (n: number) => seen.push(n) }
  await applyRaw(encodeOp({ type: OpType.ADD_WRITER, key: writerA, inviteId: NO_INVITE }), writerA, store, host, stamps)
  const huge = await applyRaw(encodeOp({ type: OpType.CLOUD_ADD, lamport: 2 ** 53 - 1, key: randomBytes(32), replicas: 1 }), writerA, store, host, stamps)
  assert.equal(huge.applied, false)
  assert.deepEqual(seen, [])
  assert.equal((await applyRaw(encodeOp({ type: OpType.CLOUD_ADD, lamport: MAX_LAMPORT, key: randomBytes(32), replicas: 1 }), writerA, store, host, stamps)).applied, true)
})
