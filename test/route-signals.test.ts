// What routing may choose from: a replica whose announced URL cannot go into a Location header,
// or be connected to, is no candidate (the view only checks an URL's length).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RouteFeedback } from '../node/route-feedback.js'
import { replicaSignals } from '../node/route-signals.js'
import { applyNodes } from '../node/view/apply.js'
import { readSnapshot } from '../node/view/snapshot.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import { LivenessTracker, type Placement } from '../placement/index.js'
import { EMPTY_LOAD, encodeOp, hexKey, NO_INVITE, OpType, type Op } from '../protocol/index.js'

const LIVENESS = { suspectAfterMs: 1000, downAfterMs: 3000, rejoinStableMs: 0 }

test('a replica announced with an URL no client could be sent to is never a route', async () => {
  const urls = ['http://good.example:8080/', 'http://bad.example/\r\nSet-Cookie: x=1', 'ftp://other.example/', 'https://[::1]:4000/', 'http://sp ace/']
  const store = new MemoryViewStore()
  const entries: Array<{ op: Op, writer: Buffer }> = []
  const nodes = urls.map((url, i) => {
    const node = Buffer.alloc(32, i + 1)
    const writer = Buffer.alloc(32, i + 101)
    entries.push({ op: { type: OpType.ADD_WRITER, key: writer, inviteId: NO_INVITE }, writer })
    entries.push({ op: { type: OpType.ANNOUNCE, lamport: 1, nodeId: node, url, zone: 'z', capacity: 100 }, writer })
    entries.push({ op: { type: OpType.HEARTBEAT, nodeId: node, seq: 1, clockMs: 0, load: EMPTY_LOAD }, writer })
    return hexKey(node)
  })
  const host = { addWriter: async () => {}, removeWriter: async () => true }
  await applyNodes(entries.map(({ op, writer }) => ({ value: encodeOp(op), from: { key: writer } })), store, host, { maxIndexers: 3 })
  const snapshot = await readSnapshot(store)
  assert.equal(snapshot.nodes.length, urls.length, 'the view keeps every announce')
  const tracker = new LivenessTracker(LIVENESS)
  for (const node of nodes) tracker.observe(node, 1, 0)
  const placement = { replicaSet: () => nodes.map((node) => ({ node, role: 'target', synced: true })) } as unknown as Placement
  const signals = replicaSignals('c', { placement, snapshot, tracker, nowMs: 0, selfHex: null, localSynced: () => false, feedback: new RouteFeedback() })
  assert.deepEqual(signals.map((s) => s.url).sort(), ['http://good.example:8080/', 'https://[::1]:4000/'])
})
