// Runs a test's heavy in-process work on a worker thread, and hands its result back to the test.
//
// Why: node:test (Node 20) keeps an async hook with a destroy callback for the whole thread it runs
// in, so every promise made there is tracked until it is collected. A loop awaiting 2 million
// resolved promises took 2,437 ms inside a test and 163 ms outside (122 ms on a worker started by
// a test). In a CPU profile of bounded-disk's ten nodes, that tracking was 23 % of the busy time
// and garbage collection another 22 %; on a worker the test took 116 s instead of 247 s (run
// alone). A worker thread has no such hook. The work module exports
// `run(input, teardown, report)`; `teardown` collects cleanups as a test context would: they run
// in the worker, in the order given (onTeardown's stack closes last first), before the result
// comes back.
import { fileURLToPath } from 'node:url'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { onTeardown } from './helpers.js'

type Teardown = Parameters<typeof onTeardown>[0]

/** What a work module exports. `report` sends a line to the test's diagnostics. */
export type WorkRun<I, R> = (input: I, teardown: Teardown, report: (line: string) => void) => Promise<R>

type FromWorker = { kind: 'report', line: string } | { kind: 'done', result: unknown } | { kind: 'failed', message: string, stack: string }

/**
 * Runs `moduleUrl`'s `run(input, ...)` on a worker thread and resolves with what it returns. The
 * worker is stopped at the end of the test `t` if it is still running (a failed or timed-out test).
 */
export async function inWorker<R> (t: Teardown & { diagnostic: (line: string) => void }, moduleUrl: URL, input: unknown): Promise<R> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { moduleUrl: moduleUrl.href, input } })
  onTeardown(t, async () => { await worker.terminate() })
  return await new Promise<R>((resolve, reject) => {
    worker.on('message', (msg: FromWorker) => {
      if (msg.kind === 'report') t.diagnostic(msg.line)
      else if (msg.kind === 'done') resolve(msg.result as R)
      else reject(Object.assign(new Error(msg.message), { stack: msg.stack }))
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) before it answered`)))
  })
}

async function workerMain (): Promise<void> {
  const { moduleUrl, input } = workerData as { moduleUrl: string, input: unknown }
  const post = (msg: FromWorker) => parentPort!.postMessage(msg)
  const afters: Array<() => Promise<void> | void> = []
  const teardown: Teardown = { after: (fn) => { afters.push(fn) } }
  let outcome: FromWorker
  try {
    const work = await import(moduleUrl) as { run: WorkRun<unknown, unknown> }
    outcome = { kind: 'done', result: await work.run(input, teardown, (line) => post({ kind: 'report', line })) }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    outcome = { kind: 'failed', message: e.message, stack: e.stack ?? e.message }
  }
  for (const fn of afters) {
    try { await fn() } catch (err) { if (outcome.kind === 'done') outcome = { kind: 'failed', message: `cleanup failed: ${String(err)}`, stack: String(err) } }
  }
  post(outcome)
}

if (!isMainThread && parentPort !== null && (workerData as { moduleUrl?: unknown } | null)?.moduleUrl !== undefined) {
  workerMain().catch((err: unknown) => { parentPort!.postMessage({ kind: 'failed', message: String(err), stack: String(err) }) })
}
