// A work module for in-worker.test.ts: awaits some promises, registers a cleanup that leaves a
// mark file, then answers or fails as asked.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { WorkRun } from './in-worker.js'

export interface SampleInput { dir: string, fail: boolean, n: number }

export const run: WorkRun<SampleInput, number> = async (input, teardown, report) => {
  teardown.after(async () => { await writeFile(join(input.dir, 'cleaned'), 'yes') })
  let sum = 0
  for (let i = 1; i <= input.n; i++) sum += await Promise.resolve(i)
  report(`summed ${input.n}`)
  if (input.fail) throw new Error(`asked to fail after summing ${input.n}`)
  return sum
}
