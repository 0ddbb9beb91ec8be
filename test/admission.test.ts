// Admission: only a valid, unexpired, unused invite gets a machine into the view; garbage
// appended by a member changes nothing. Nodes run in-process on a loopback DHT.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Autobase from 'autobase'
import BlindPairing from 'blind-pairing'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import { discoveryKey } from 'hypercore-crypto'
import * as z32 from 'z32'
import { Bevy } from '../node/bevy.js'
import { defaultConfig } from '../node/config.js'
import { paths, readBevyFile } from '../node/storage.js'
import { BevyError, ErrorCode, NodeState, OpType, ViewKey, type Clock } from '../protocol/index.js'
import { loopbackDht, onTeardown, tempDir, waitFor } from './helpers.js'

type T = Parameters<typeof tempDir>[0]

async function startBevy (t: T, bootstrap: string, opts: { join?: string | null, clock?: Clock, pairTimeoutMs?: number, storage?: string } = {}): Promise<Bevy> {
  const [host, port] = bootstrap.split(':')
  const storage = opts.storage ?? await tempDir(t)
  const bevy = new Bevy({
    config: defaultConfig({
      storage,
      bootstrap: [{ host: host as string, port: Number(port) }],
      join: opts.join ?? null,
      heartbeatIntervalMs: 60_000,
      suspectAfterMs: 120_000,
      downAfterMs: 240_000,
      pairTimeoutMs: opts.pairTimeoutMs ?? 20_000,
      writableGraceMs: 500 // the evicted node's late writes should fail fast
    }),
    url: 'http://127.0.0.1:1',
    ...(opts.clock === undefined ? {} : { clock: opts.clock })
  })
  onTeardown(t, () => bevy.close())
  await bevy.ready()
  return bevy
}

const refusedWith = (code: ErrorCode) => (err: unknown) => err instanceof BevyError && err.code === code

test('invites admit exactly as promised, and nothing else gets in', async (t) => {
  const dht = await loopbackDht(t)
  const founder = await startBevy(t, dht.bootstrap)
  const invite = founder.foundingInvite?.text
  assert.ok(invite !== undefined)

  await t.test('a valid invite admits a node', async () => {
    const joiner = await startBevy(t, dht.bootstrap, { join: invite })
    assert.ok(joiner.key.equals(founder.key))
    await waitFor('founder to see 2 nodes', () => founder.snapshot.nodes.length === 2 ? true : undefined)
  })

  await t.test('a used-up invite is refused by the members, and leaves no bevy behind', async () => {
    const storage = await tempDir(t)
    await assert.rejects(startBevy(t, dht.bootstrap, { join: invite, storage }), refusedWith(ErrorCode.INVITE_USED))
    assert.equal(await readBevyFile(storage), null)
  })

  await t.test('an invite that expired is refused by the members even if the joiner\'s clock is behind', async () => {
    const short = await founder.createInvite({ ttlMs: 1000, uses: 5 })
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const behind: Clock = { now: () => Date.now() - 60_000 }
    await assert.rejects(startBevy(t, dht.bootstrap, { join: short.text, clock: behind }), refusedWith(ErrorCode.INVITE_EXPIRED))
    // With a correct clock the joiner refuses it itself, before touching the network.
    await assert.rejects(startBevy(t, dht.bootstrap, { join: short.text }), refusedWith(ErrorCode.INVITE_EXPIRED))
  })

  await t.test('garbage invites are refused', async () => {
    for (const garbage of ['nonsense', z32.encode(Buffer.from('short')), '', 'y'.repeat(200)]) {
      await assert.rejects(startBevy(t, dht.bootstrap, { join: garbage }), (err: unknown) => err instanceof BevyError && err.isUsage)
    }
  })

  await t.test('a forged invite for the right topic gets no answer, and the view is unchanged', async () => {
    const forged = BlindPairing.createInvite(founder.key, { expires: Date.now() + 60_000 })
    await assert.rejects(startBevy(t, dht.bootstrap, { join: z32.encode(forged.invite), pairTimeoutMs: 4000 }), refusedWith(ErrorCode.PAIRING_TIMEOUT))
    assert.equal(founder.snapshot.nodes.length, 2)
  })

  await t.test('a process that knows the bevy key but was never admitted cannot write', async () => {
    const dir = await tempDir(t)
    const store = new Corestore(paths(dir).corestore)
    const [host, port] = dht.bootstrap.split(':')
    const swarm = new Hyperswarm({ bootstrap: [{ host: host as string, port: Number(port) }] })
    swarm.on('connection', (conn) => store.replicate(conn))
    const rogue = new Autobase(store, founder.key, { open: (s) => s.get('view'), apply: async () => {} })
    onTeardown(t, async () => { await rogue.close(); await swarm.destroy(); await store.close() })
    await rogue.ready()
    swarm.join(rogue.discoveryKey)
    await swarm.flush()
    assert.equal(rogue.writable, false)
    await assert.rejects(rogue.append(Buffer.from('let me in')))
    await new Promise((resolve) => setTimeout(resolve, 500))
    await founder.clusterLog.base.update()
    // The founder's own leases may add blocks meanwhile; what must not appear is the rogue as a writer.
    assert.equal(await founder.clusterLog.view.get(ViewKey.writer(rogue.local.key)), null)
    assert.equal(founder.snapshot.nodes.length, 2)
  })
})

test('garbage appended to the real cluster log is skipped on every node and changes no view', async (t) => {
  const dht = await loopbackDht(t)
  const a = await startBevy(t, dht.bootstrap)
  const b = await startBevy(t, dht.bootstrap, { join: a.foundingInvite?.text ?? null })
  // Each node's first heartbeat follows its announce: wait for those too, or one may land between the dumps.
  const settled = (bevy: Bevy) => bevy.snapshot.nodes.length === 2 && bevy.snapshot.nodes.every((n) => n.heartbeat !== null)
  await waitFor('both nodes and their first heartbeats in both views', () => settled(a) && settled(b) ? true : undefined)
  const dump = async (bevy: Bevy) => {
    const out: string[] = []
    for await (const { key, value } of bevy.clusterLog.view.range('', '\uffff')) out.push(`${key}=${value.toString('hex')}`)
    return out.join('\n')
  }
  const beforeA = await dump(a)
  const beforeB = await dump(b)
  const garbage = [Buffer.from([0xff, 0xff]), Buffer.from([1, 2, 3]), Buffer.from([1, 99, 1, 2]), Buffer.alloc(0), Buffer.from('{"type":2}')]
  for (const bytes of garbage) await a.clusterLog.appendRaw(bytes)
  const target = a.clusterLog.base.length
  await waitFor('b to apply the garbage blocks', async () => {
    await b.clusterLog.base.update()
    return b.clusterLog.base.length >= target ? true : undefined
  })
  assert.equal(await dump(a), beforeA)
  assert.equal(await dump(b), beforeB)
})

test('the members\' firewall keeps out a stranger that knows the topic and key, and an evicted node is cut off and ignored', async (t) => {
  const dht = await loopbackDht(t)
  const a = await startBevy(t, dht.bootstrap)
  const invite = await a.createInvite({ uses: 2 })
  const b = await startBevy(t, dht.bootstrap, { join: invite.text })
  const c = await startBevy(t, dht.bootstrap, { join: invite.text })
  const hexes = (keys: Buffer[]) => keys.map((k) => k.toString('hex')).sort()
  const ids = [a, b, c].map((n) => n.id)
  const meshed = (n: Bevy, others: Buffer[]) => others.every((o) => n.memberPeers.some((p) => p.equals(o)))
  await waitFor('a full mesh of three members', () => meshed(a, [b.id, c.id]) && meshed(b, [a.id, c.id]) && meshed(c, [a.id, b.id]) ? true : undefined, 30_000)

  await t.test('a stranger with the topic and bevy key gets no member connection and appears nowhere in the view', async () => {
    const [host, port] = dht.bootstrap.split(':')
    const stranger = new Hyperswarm({ bootstrap: [{ host: host as string, port: Number(port) }] })
    const store = new Corestore(paths(await tempDir(t)).corestore)
    onTeardown(t, async () => { await stranger.destroy(); await store.close() })
    const reached: Buffer[] = []
    stranger.on('connection', (conn) => { reached.push(conn.remotePublicKey); conn.on('error', () => {}); store.replicate(conn) })
    stranger.join(discoveryKey(a.key))
    for (const id of ids) stranger.joinPeer(id) // straight at the members' keys, not only through the topic
    // A refusal leaves nothing to wait on, so give the stranger a few seconds of retries to get in.
    await new Promise((resolve) => setTimeout(resolve, 4000))
    const strangerHex = stranger.keyPair.publicKey.toString('hex')
    assert.ok(!reached.some((k) => ids.some((id) => id.equals(k))), 'no connection reached a member\'s node key')
    for (const n of [a, b, c]) {
      assert.ok(!n.memberPeers.some((k) => k.toString('hex') === strangerHex), 'no member has the stranger as a peer')
      assert.deepEqual(hexes(n.snapshot.nodes.map((x) => x.record.nodeId)), hexes(ids))
    }
  })

  await t.test('an evicted node loses its writer and its connections, and what it writes later changes nothing', async () => {
    const cloud = randomBytes(32)
    await a.addCloud(cloud, 3)
    await waitFor('c to see the cloud', () => c.snapshot.cloudByKey.has(cloud.toString('hex')) ? true : undefined)
    await b.evict(c.id)
    const evictedIn = (n: Bevy) => n.snapshot.byId.get(c.id.toString('hex'))?.record.state === NodeState.EVICTED
    await waitFor('a and b to see c evicted', () => evictedIn(a) && evictedIn(b) ? true : undefined)
    await waitFor('a and b to drop c', () => !meshed(a, [c.id]) && !meshed(b, [c.id]) ? true : undefined)
    for (const n of [a, b]) {
      const placed = n.cloudInfo(cloud).placement.map((r) => r.node)
      assert.ok(!placed.includes(c.idText), 'the evicted node is out of the cloud\'s replica set')
    }
    const before = a.snapshot
    // c still holds its old log and may append to it; none of that may reach or change the others' view.
    await c.clusterLog.append({ type: OpType.CLOUD_ADD, lamport: 1_000_000, key: randomBytes(32), replicas: 1 }).catch(() => {})
    await c.clusterLog.append({ type: OpType.EVICT, lamport: 1_000_001, nodeId: a.id }).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 2000))
    await a.refresh()
    assert.equal(a.snapshot.clouds.length, before.clouds.length)
    assert.equal(a.snapshot.byId.get(a.id.toString('hex'))?.record.state, NodeState.ACTIVE)
    assert.ok(!meshed(a, [c.id]) && !meshed(b, [c.id]), 'c stays disconnected')
  })
})
