// Epoch rotation: the cluster log moves to a fresh Autobase seeded with the durable state, the
// bevy keeps working across it, and a node that was away across rotations finds its way back.
// Nodes run in-process on a loopback DHT, with a tiny epochMaxViewBlocks so rotations come fast.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { Bevy } from '../node/bevy.js'
import { readBevyFile } from '../node/storage.js'
import { hexKey } from '../protocol/index.js'
import { startEpochNode, epochsOf as epochs, type EpochNodeOptions } from './epoch-nodes.js'
import { loopbackDht, tempDir, waitFor } from './helpers.js'

const ROTATE_AFTER_VIEW_BLOCKS = 120
const startNode = async (t: Parameters<typeof tempDir>[0], bootstrap: string, opts: EpochNodeOptions = {}) => await startEpochNode(t, bootstrap, ROTATE_AFTER_VIEW_BLOCKS, opts)

test('the log rotates into new epochs that carry the durable state, and an absent node catches up', async (t) => {
  const dht = await loopbackDht(t)
  const a = await startNode(t, dht.bootstrap)
  const b = await startNode(t, dht.bootstrap, { join: (await a.createInvite()).text })
  const cStorage = await tempDir(t)
  let c = await startNode(t, dht.bootstrap, { join: (await a.createInvite()).text, storage: cStorage })
  const cloud = randomBytes(32)
  await a.addCloud(cloud, 2)
  const all = () => [a, b, c]

  await t.test('all nodes reach epoch 2 together, with every node and the cloud carried over', async () => {
    await waitFor(`all nodes in epoch 2 or later (now ${epochs(all()).join(',')})`, () => all().every((n) => n.epochNumber >= 2) ? true : undefined, 60_000)
    for (const node of all()) {
      await waitFor('3 nodes and the cloud in the view', () => node.snapshot.nodes.length === 3 && node.snapshot.cloudByKey.has(hexKey(cloud)) ? true : undefined, 20_000)
      assert.ok(node.key.equals(a.key), 'the bevy key stays')
      assert.ok(node.writable, 'every node writes in the new epoch')
    }
  })

  await t.test('heartbeats keep flowing in the new epoch', async () => {
    const seqOf = () => a.snapshot.byId.get(hexKey(b.id))?.heartbeat?.seq ?? 0
    const before = seqOf()
    await waitFor('a newer heartbeat from b', () => seqOf() > before ? true : undefined, 20_000)
  })

  await t.test('a node away across two rotations comes back into the current epoch', async () => {
    const away = c.epochNumber
    await c.close()
    await waitFor('the others two epochs further', () => a.epochNumber >= away + 2 && b.epochNumber >= away + 2 ? true : undefined, 60_000)
    c = await startNode(t, dht.bootstrap, { storage: cStorage })
    await waitFor(`c back in the others' epoch (c ${c.epochNumber}, a ${a.epochNumber})`, () => c.epochNumber >= away + 2 && c.writable ? true : undefined, 60_000)
    const seqOf = () => a.snapshot.byId.get(hexKey(c.id))?.heartbeat?.seq ?? 0
    const before = seqOf()
    await waitFor('a newer heartbeat from c, seen by a', () => seqOf() > before ? true : undefined, 30_000)
    assert.ok(c.snapshot.cloudByKey.has(hexKey(cloud)), 'c sees the cloud')
    const file = await readBevyFile(cStorage)
    assert.ok(file?.key.equals(a.key))
    assert.ok((file?.epoch?.epoch ?? 0) >= away + 2, 'bevy.json names the epoch c moved to')
  })
})

test('a proposer that dies mid-rotation is replaced, and the bevy ends on one epoch with nothing lost', async (t) => {
  const dht = await loopbackDht(t)
  const storages = [await tempDir(t), await tempDir(t), await tempDir(t)]
  const first = await startNode(t, dht.bootstrap, { storage: storages[0] as string })
  const nodes = [first]
  for (const storage of storages.slice(1)) nodes.push(await startNode(t, dht.bootstrap, { join: (await first.createInvite()).text, storage }))
  const cloud = randomBytes(32)
  await first.addCloud(cloud, 2)
  await waitFor('all see 3 nodes and the cloud', () => nodes.every((n) => n.snapshot.nodes.length === 3 && n.snapshot.cloudByKey.has(hexKey(cloud))) ? true : undefined, 20_000)

  // The chooser is the live node with the smallest id; kill it the moment its proposal is written.
  const chooser = [...nodes].sort((x, y) => hexKey(x.id).localeCompare(hexKey(y.id)))[0] as Bevy
  const killed = new Promise<number>((resolve) => chooser.once('epoch-proposed', (epoch: number) => { chooser.close().then(() => resolve(epoch), () => resolve(epoch)) }))
  const epoch = await killed
  const survivors = nodes.filter((n) => n !== chooser)
  await waitFor(`survivors in epoch ${epoch} or later (now ${epochs(survivors).join(',')})`, () => survivors.every((n) => n.epochNumber >= epoch && n.writable) ? true : undefined, 60_000)
  for (const node of survivors) {
    await waitFor('the cloud and all 3 nodes in the new epoch', () => node.snapshot.cloudByKey.has(hexKey(cloud)) && node.snapshot.nodes.length === 3 ? true : undefined, 20_000)
  }

  // The dead proposer comes back and joins whatever epoch the others are in.
  const back = await startNode(t, dht.bootstrap, { storage: storages[nodes.indexOf(chooser)] as string })
  const everyone = [...survivors, back]
  // Rotations go on every few seconds here, so "one epoch" is checked as: all meet on one.
  await waitFor(`all three on one epoch (${epochs(everyone).join(',')})`, () => back.writable && new Set(epochs(everyone)).size === 1 && back.epochNumber >= epoch ? true : undefined, 60_000)
  assert.ok(back.snapshot.cloudByKey.has(hexKey(cloud)), 'the cloud is still registered')
})
