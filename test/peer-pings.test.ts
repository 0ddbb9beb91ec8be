// Direct liveness between connected nodes: pings over a real Noise stream pair judge a peer live,
// suspect and down by their own age, carry its load, and a closed connection is reported at once.
// The router takes the better of the view's and the pings' judgement.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import type { SwarmConnection } from 'hyperswarm'
import { PeerPings } from '../node/peer-pings.js'
import { RouteFeedback } from '../node/route-feedback.js'
import { replicaSignals } from '../node/route-signals.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import { applyNodes } from '../node/view/apply.js'
import { readSnapshot } from '../node/view/snapshot.js'
import { LivenessTracker, type Placement } from '../placement/index.js'
import { EMPTY_LOAD, encodeOp, hexKey, NO_INVITE, OpType, type Load, type Op } from '../protocol/index.js'
import { waitFor } from './helpers.js'

const LIVENESS = { suspectAfterMs: 1000, downAfterMs: 3000, rejoinStableMs: 0 }
const BUSY: Load = { ...EMPTY_LOAD, cpuPermille: 700, eventLoopPermille: 300, connections: 2 }

function streamPair (): [SwarmConnection, SwarmConnection] {
  const a = new NoiseSecretStream(true)
  const b = new NoiseSecretStream(false)
  a.rawStream.pipe(b.rawStream).pipe(a.rawStream)
  return [a as unknown as SwarmConnection, b as unknown as SwarmConnection]
}

test('pings judge a connected peer by their own age, carry its load, and a closed connection is lost at once', async (t) => {
  let now = 0
  const lost: string[] = []
  const [connA, connB] = streamPair()
  await Promise.all([(connA as unknown as NoiseSecretStream).opened, (connB as unknown as NoiseSecretStream).opened])
  const a = new PeerPings({ liveness: LIVENESS, now: () => now, onLost: (peer) => lost.push(peer) })
  const b = new PeerPings({ liveness: LIVENESS, now: () => now, onLost: (peer) => lost.push(peer) })
  t.after(() => { a.close(); b.close(); connA.destroy(); connB.destroy() })
  a.attach(connA)
  b.attach(connB)
  const aHex = hexKey(connB.remotePublicKey)

  assert.equal(b.state(aHex, now), null, 'no judgement before the first ping')
  await waitFor('the channel to open both ways', () => {
    a.broadcast(BUSY)
    return b.state(aHex, now) === 'live' ? true : undefined
  }, 5000, 20)
  assert.deepEqual(b.evidence(aHex, now), { liveness: 'live', load: BUSY })

  now += LIVENESS.suspectAfterMs
  assert.equal(b.state(aHex, now), 'suspect')
  assert.equal(b.evidence(aHex, now)?.liveness, 'suspect', 'a late peer\'s load comes marked late')
  now += LIVENESS.downAfterMs
  assert.equal(b.state(aHex, now), 'down')

  a.broadcast(BUSY)
  await waitFor('a fresh ping to bring it back', () => b.state(aHex, now) === 'live' ? true : undefined, 5000, 20)

  connA.destroy()
  await waitFor('the closed connection to be reported', () => lost.includes(aHex) ? true : undefined, 5000, 20)
  assert.equal(b.state(aHex, now), null, 'no judgement once disconnected')
  assert.equal(b.evidence(aHex, now), null)
  assert.equal(b.connectedPeers, 0)
})

test('routing takes the better of the view\'s and the pings\' judgement, and the pinged load', async () => {
  const node = Buffer.alloc(32, 7)
  const writer = Buffer.alloc(32, 8)
  const store = new MemoryViewStore()
  const ops: Op[] = [
    { type: OpType.ADD_WRITER, key: writer, inviteId: NO_INVITE },
    { type: OpType.ANNOUNCE, lamport: 1, nodeId: node, url: 'http://n', zone: 'z', capacity: 100 },
    { type: OpType.HEARTBEAT, nodeId: node, seq: 1, clockMs: 0, load: EMPTY_LOAD }
  ]
  await applyNodes(ops.map((op) => ({ value: encodeOp(op), from: { key: writer } })), store, { addWriter: async () => {}, removeWriter: async () => true }, { maxIndexers: 3 })
  const snapshot = await readSnapshot(store)
  const nodeHex = hexKey(node)
  const tracker = new LivenessTracker(LIVENESS)
  tracker.observe(nodeHex, 1, 0)
  const placement = { replicaSet: () => [{ node: nodeHex, role: 'target', synced: true }] } as unknown as Placement
  const signals = (nowMs: number, direct?: { state: 'live' | 'suspect' | 'down' | null, load: Load | null }) => replicaSignals('c', {
    placement, snapshot, tracker, nowMs, selfHex: null, localSynced: () => false, feedback: new RouteFeedback(),
    ...(direct === undefined ? {} : { direct: { evidence: () => direct.state === null ? null : { liveness: direct.state, load: direct.load ?? EMPTY_LOAD } } })
  })[0]!

  const late = 5000 // the view's heartbeat is past downAfterMs
  assert.equal(signals(late).liveness, 'down')
  assert.equal(signals(late, { state: 'live', load: BUSY }).liveness, 'live', 'fresh pings outweigh a lagging view')
  assert.equal(signals(late, { state: 'live', load: BUSY }).loadPermille, 700, 'the pinged load is used')
  assert.equal(signals(0, { state: 'down', load: BUSY }).liveness, 'live', 'a fresh view heartbeat outweighs stale pings')
  assert.equal(signals(0, { state: 'suspect', load: BUSY }).loadPermille, 0, 'a late peer\'s pinged load gives way to the view\'s')
  assert.equal(signals(0, { state: null, load: null }).loadPermille, 0, 'without pings, the view\'s load')
})
