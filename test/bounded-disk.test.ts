// Disk stays bounded however long a bevy runs. Ten in-process nodes write a lease every 300 ms,
// and the log rotates every ROTATE_AFTER_VIEW_BLOCKS view blocks. At the defaults of before
// (a lease per node every 30 s, a rotation every 20,000 view blocks) 7 days of 10 nodes were
// 201,600 leases, about 10 rotations (now leases are 10-100x rarer); here 10 rotations of 60 view blocks go by in a minute or two. What bounds disk is
// the rotation (an old epoch is deleted once every node moved on), so the number of rotations,
// not the number of leases, is what the test must reach. `npm run bench:idle` measures the same
// at the default epoch size.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { BoundedDiskInput, DiskSample } from './bounded-disk.work.js'
import { tempDir } from './helpers.js'
import { inWorker } from './in-worker.js'

const NODES = 10
const ROTATE_AFTER_VIEW_BLOCKS = 60
/** A lease per node every 300 ms: 33 a second keeps one thread busy but not saturated. */
const LEASE_MS = 300
const ROTATIONS = 10

test('disk per node stays bounded and flat across 10 rotations of a 10-node bevy', async (t) => {
  const input: BoundedDiskInput = { root: await tempDir(t), nodes: NODES, rotateAfterViewBlocks: ROTATE_AFTER_VIEW_BLOCKS, leaseMs: LEASE_MS, rotations: ROTATIONS }
  // The nodes run on a worker thread: node:test's async hook made them twice as slow here (in-worker.ts).
  const samples = await inWorker<DiskSample[]>(t, new URL('./bounded-disk.work.js', import.meta.url), input)
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
