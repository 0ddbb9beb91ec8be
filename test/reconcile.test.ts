// The reconcile step: which clouds a node opens and purges, and which holdings it records, from
// the real view apply and placement. Local copies are a plain table here.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { defaultConfig } from '../node/config.js'
import { PlacementRunner } from '../node/placement-runner.js'
import { Reconciler, type LocalHoldings } from '../node/reconciler.js'
import { applyNodes } from '../node/view/apply.js'
import { readSnapshot, type ClusterSnapshot } from '../node/view/snapshot.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import { LivenessTracker } from '../placement/index.js'
import { encodeOp, OpType, type Op } from '../protocol/index.js'

const writer = randomBytes(32)
const nodeId = randomBytes(32)
const self = nodeId.toString('hex')
const cloud = randomBytes(32)
const cloudHex = cloud.toString('hex')

class Local implements LocalHoldings {
  open = new Map<string, boolean | null>() // cloud → synced (null: still opening)
  purgedHere = new Set<string>()
  holds = (c: string) => this.open.has(c)
  synced = (c: string) => this.open.get(c) ?? null
  released = (c: string) => this.purgedHere.has(c)
  heldClouds = () => this.open.keys()
}

async function setup (ops: Op[]) {
  const store = new MemoryViewStore()
  let lamport = 100
  const apply = async (more: Op[]) => {
    await applyNodes(more.map((op) => ({ value: encodeOp(op), from: { key: writer } })), store, { async addWriter () {}, async removeWriter () { return true } }, { maxIndexers: 3 })
    return readSnapshot(store)
  }
  const config = defaultConfig({ rejoinStableMs: 0 })
  const tracker = new LivenessTracker(config)
  tracker.observe(self, 1, 0)
  const placements = new PlacementRunner({ config, tracker, clock: { now: () => 1 } })
  const reconciler = new Reconciler({ selfHex: self, nextLamport: () => ++lamport })
  const runner = { reconcile: (s: ClusterSnapshot, local: LocalHoldings) => reconciler.reconcile(s, placements.current(s), local) }
  const snapshot = await apply([{ type: OpType.ANNOUNCE, lamport: 1, nodeId, url: 'http://n', zone: 'z', capacity: 1e12 }, ...ops])
  return { runner, apply, snapshot }
}

const holdOf = (op: Op | undefined) => op?.type === OpType.CLOUD_HOLD ? { held: op.held, synced: op.synced } : null

test('a wanted cloud is opened, recorded as held, then as synced once the copy is complete', async () => {
  const { runner, apply, snapshot } = await setup([{ type: OpType.CLOUD_ADD, lamport: 2, key: cloud, replicas: 1 }])
  const local = new Local()
  let actions = runner.reconcile(snapshot, local)
  assert.deepEqual(actions.open, [cloudHex])
  assert.deepEqual(holdOf(actions.ops[0]), { held: true, synced: false })
  assert.equal(runner.reconcile(snapshot, local).ops.length, 0, 'asked once; not again until the view shows it')
  local.open.set(cloudHex, false)
  const held = await apply(actions.ops)
  assert.equal(runner.reconcile(held, local).ops.length, 0)
  local.open.set(cloudHex, true)
  actions = runner.reconcile(held, local)
  assert.deepEqual(holdOf(actions.ops[0]), { held: true, synced: true })
  assert.deepEqual(actions.open, [])
})

test('a removed cloud is purged first and let go only after the purge', async () => {
  const { runner, apply } = await setup([
    { type: OpType.CLOUD_ADD, lamport: 2, key: cloud, replicas: 1 },
    { type: OpType.CLOUD_HOLD, lamport: 3, key: cloud, nodeId, held: true, synced: true }
  ])
  const local = new Local()
  local.open.set(cloudHex, true)
  const removed = await apply([{ type: OpType.CLOUD_REMOVE, lamport: 4, key: cloud }])
  let actions = runner.reconcile(removed, local)
  assert.deepEqual(actions.release, [cloudHex])
  assert.equal(actions.ops.length, 0, 'still held while the copy is on disk')
  local.open.delete(cloudHex)
  local.purgedHere.add(cloudHex)
  actions = runner.reconcile(removed, local)
  assert.deepEqual(actions.release, [])
  assert.deepEqual(holdOf(actions.ops[0]), { held: false, synced: false })
  const after = await apply(actions.ops)
  assert.equal(after.holdings.get(cloudHex), undefined)
  assert.equal(runner.reconcile(after, local).ops.length, 0)
})

test('a synced copy still reopening after a restart is not reported unsynced', async () => {
  const { runner, snapshot } = await setup([
    { type: OpType.CLOUD_ADD, lamport: 2, key: cloud, replicas: 1 },
    { type: OpType.CLOUD_HOLD, lamport: 3, key: cloud, nodeId, held: true, synced: true }
  ])
  const local = new Local()
  assert.deepEqual(runner.reconcile(snapshot, local), { ops: [], open: [cloudHex], release: [] })
  local.open.set(cloudHex, null)
  assert.equal(runner.reconcile(snapshot, local).ops.length, 0)
})

test('after a restart, a copy the view says is held but placement no longer wants is purged before it is let go', async () => {
  const { runner, snapshot } = await setup([
    { type: OpType.CLOUD_ADD, lamport: 2, key: cloud, replicas: 1 },
    { type: OpType.CLOUD_HOLD, lamport: 3, key: cloud, nodeId, held: true, synced: true },
    { type: OpType.CLOUD_REMOVE, lamport: 4, key: cloud }
  ])
  const local = new Local() // a fresh process: nothing open
  const actions = runner.reconcile(snapshot, local)
  assert.deepEqual(actions.release, [cloudHex])
  assert.equal(actions.ops.length, 0)
})
