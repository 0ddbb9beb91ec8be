// inWorker: the work's result or its failure comes back to the test, and the work's cleanups run
// in the worker either way.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { tempDir } from './helpers.js'
import { inWorker } from './in-worker.js'
import type { SampleInput } from './in-worker-sample.work.js'

const WORK = new URL('./in-worker-sample.work.js', import.meta.url)

test('work on a worker thread answers the test, fails it with its own error, and cleans up either way', async (t) => {
  const ok: SampleInput = { dir: await tempDir(t), fail: false, n: 1000 }
  assert.equal(await inWorker<number>(t, WORK, ok), 500_500)
  assert.equal(await readFile(join(ok.dir, 'cleaned'), 'utf8'), 'yes', 'the cleanup ran before the answer')

  const failing: SampleInput = { dir: await tempDir(t), fail: true, n: 10 }
  await assert.rejects(inWorker(t, WORK, failing), /asked to fail after summing 10/)
  assert.equal(await readFile(join(failing.dir, 'cleaned'), 'utf8'), 'yes', 'the cleanup ran after the failure too')

  await assert.rejects(inWorker(t, new URL('./no-such.work.js', import.meta.url), {}), /no-such\.work\.js/)
})
