// A node whose storage reaches --capacity reports itself full in the view, and new clouds are
// placed on the other nodes; with room again it takes replicas again. The decision is unit-tested
// below it; what a full node keeps is in placement-full.test.ts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { Bevy } from '../node/bevy.js'
import { defaultConfig } from '../node/config.js'
import { fullReason } from '../node/fullness.js'
import { startEpochNode } from './epoch-nodes.js'
import { loopbackDht, waitFor } from './helpers.js'

const limits = defaultConfig({ storage: '/nonexistent' })
const room = { diskBytes: 10, capacityBytes: 1000, freeDiskBytes: 10 ** 12, cloudsHeld: 1, wasFull: false }

test('full at the capacity, the free-disk floor or the cloud cap; room again only a margin below', () => {
  assert.equal(fullReason(room, limits), null)
  assert.match(fullReason({ ...room, diskBytes: 1000 }, limits) ?? '', /capacity/)
  assert.match(fullReason({ ...room, freeDiskBytes: limits.minFreeDiskBytes }, limits) ?? '', /free/)
  assert.equal(fullReason({ ...room, freeDiskBytes: 0 }, limits), null, 'unknown free space is not taken for none')
  assert.match(fullReason({ ...room, cloudsHeld: limits.maxCloudsPerNode }, limits) ?? '', /clouds/)
  // Just under the capacity: a node that was full stays full until it is the margin below.
  assert.notEqual(fullReason({ ...room, diskBytes: 990, wasFull: true }, limits), null)
  assert.equal(fullReason({ ...room, diskBytes: 990, wasFull: false }, limits), null)
  assert.equal(fullReason({ ...room, diskBytes: 900, wasFull: true }, limits), null)
})

test('a node at its capacity reports full and gets no new clouds; with room it gets them again', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const calm = { leaseIntervalMs: 5000, diskUsageIntervalMs: 200, rejoinStableMs: 0 }
  const a = await startEpochNode(t, dht.bootstrap, 0, { config: calm })
  const invite = await a.createInvite({ uses: 2 })
  // Its storage alone outgrows 1 MB at once: full from its first disk check.
  const small = await startEpochNode(t, dht.bootstrap, 0, { join: invite.text, config: { ...calm, capacity: 1_000_000 } })
  const b = await startEpochNode(t, dht.bootstrap, 0, { join: invite.text, config: calm })
  const nodes = [a, small, b]
  const fullIn = (n: Bevy) => n.snapshot.byId.get(small.id.toString('hex'))?.full
  await waitFor('every node to see the small one full', () => nodes.every((n) => fullIn(n) === true) ? true : undefined, 30_000)
  assert.equal(a.status().nodes.find((n) => n.id === small.idText)?.full, true, 'status says so')

  const clouds = Array.from({ length: 12 }, () => randomBytes(32))
  for (const key of clouds) await a.addCloud(key, 2)
  await waitFor('every node to see the clouds', () => nodes.every((n) => n.snapshot.clouds.length === clouds.length) ? true : undefined)
  for (const n of nodes) {
    for (const key of clouds) {
      const targets = n.cloudInfo(key).placement.filter((r) => r.role === 'target').map((r) => r.node)
      assert.equal(targets.length, 2)
      assert.ok(!targets.includes(small.idText), 'no new cloud is placed on the full node')
    }
  }

  // Room again: the operator restarts it with a larger --capacity, and it takes a share.
  await small.close()
  const again = await startEpochNode(t, dht.bootstrap, 0, { storage: small.config.storage, config: { ...calm, capacity: 10 ** 12 } })
  assert.ok(again.id.equals(small.id))
  await waitFor('the restarted node to take clouds again', () => [a, again, b].every((n) => fullIn(n) === false) &&
    clouds.some((key) => a.cloudInfo(key).placement.some((r) => r.node === small.idText)) ? true : undefined, 30_000)
})
