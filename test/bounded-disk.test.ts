// Disk stays bounded however long a bevy runs. Ten in-process nodes write a lease every 300 ms,
// and the log rotates every ROTATE_AFTER_VIEW_BLOCKS view blocks. At the defaults of before
// (a lease per node every 30 s, a rotation every 20,000 view blocks) 7 days of 10 nodes were
// 201,600 leases, about 10 rotations (now leases are 10-100x rarer); here 10 rotations of 60 view blocks go by in a minute or two. What bounds disk is
// the rotation (an old epoch is deleted once every node moved on), so the number of rotations,
// not the number of leases, is what the test must reach. `npm run bench:idle` measures the same
// at the default epoch size.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Bevy } from '../node/bevy.js'
import { dirBytes } from '../node/disk.js'
import { startEpochNode, epochsOf } from './epoch-nodes.js'
import { loopbackDht, waitFor } from './helpers.js'

const NODES = 10
const ROTATE_AFTER_VIEW_BLOCKS = 60
/** A lease per node every 300 ms: 33 a second keeps one process busy but not saturated. */
const LEASE_MS = 300
const ROTATIONS = 10
const MB = 1e6

test('disk per node stays bounded and flat across 10 rotations of a 10-node bevy', async (t) => {
  const t0 = Date.now()
  const dht = await loopbackDht(t)
  // No rotation while the nodes join: a node admitted to a log that is being replaced is a
  // separate problem (a known gap, see docs/bounded-storage.md); rotations start once all are in.
  const fast = { heartbeatIntervalMs: LEASE_MS, leaseIntervalMs: LEASE_MS, leaseMeshIntervalMs: LEASE_MS }
  const founder = await startEpochNode(t, dht.bootstrap, 0, { config: fast })
  const invite = (await founder.createInvite({ uses: NODES - 1 })).text
  const joiners = await Promise.all(Array.from({ length: NODES - 1 }, async () => await startEpochNode(t, dht.bootstrap, 0, { join: invite, config: fast })))
  const nodes: Bevy[] = [founder, ...joiners]
  await waitFor(`all ${NODES} nodes see each other`, () => nodes.every((n) => n.snapshot.nodes.length === NODES) ? true : undefined, 60_000)
  for (const node of nodes) node.config.epochMaxViewBlocks = ROTATE_AFTER_VIEW_BLOCKS

  t.diagnostic(`${NODES} nodes joined after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  // The largest storage directory of any node, sampled each time the bevy's epoch moves on.
  const start = Math.min(...epochsOf(nodes))
  const samples: Array<{ epoch: number, mb: number, s: number }> = []
  let seen = start
  await waitFor(`${ROTATIONS} rotations (epochs now ${epochsOf(nodes).join(',')})`, async () => {
    const epoch = Math.min(...epochsOf(nodes))
    if (epoch > seen) {
      seen = epoch
      const sizes = await Promise.all(nodes.map(async (n) => await dirBytes(n.config.storage)))
      samples.push({ epoch, mb: Math.max(...sizes) / MB, s: (Date.now() - t0) / 1000 })
    }
    return epoch >= start + ROTATIONS ? true : undefined
  }, 600_000, 250)
  t.diagnostic(`disk per node (max of ${NODES}) at each epoch: ${samples.map((s) => `${s.epoch}:${s.mb.toFixed(1)}MB@${s.s}s`).join(' ')}`)

  const third = Math.max(1, Math.floor(samples.length / 3))
  const peak = (part: typeof samples) => Math.max(...part.map((s) => s.mb))
  // The median of a third, not its peak: one sample taken just before an old epoch's files were
  // deleted (later on a loaded machine) is not growth. Seen: 12.6, 16.0, 13.7 MB in a last third.
  const median = (part: typeof samples) => { const mbs = part.map((s) => s.mb).sort((a, b) => a - b); return mbs[Math.floor(mbs.length / 2)] as number }
  const early = median(samples.slice(0, third))
  const late = median(samples.slice(-third))
  // Unbounded growth would make the last third ~3x the first (twice the leases went by since);
  // bounded disk keeps it where the first rotations left it.
  assert.ok(late <= early * 1.5, `disk flattens: median ${late.toFixed(1)} MB in the last third vs ${early.toFixed(1)} MB in the first`)
  assert.ok(peak(samples) <= 32, `disk per node stays under 32 MB (peak ${peak(samples).toFixed(1)} MB)`)
})
