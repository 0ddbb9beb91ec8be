// The chaos run at 5 real node processes for a short fault phase: SIGKILL/SIGTERM restarts and
// SIGSTOP pauses from a fixed seed, while clients read and a writer writes to a hosted cloud. No
// cloud may be lost, every cloud must be back on its replicas and read back byte-identical from
// every node, every hosted write that got 201 must be served by every node, and no process may
// outlive the run. No timing is asserted: the machine's speed decides those figures, not correctness.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runChaos } from '../sim/chaos/chaos.js'
import { figures } from '../sim/chaos/report.js'
import { loopbackDht, onTeardown, tempDir } from './helpers.js'

const alive = (pid: number) => {
  try { process.kill(pid, 0); return true } catch { return false }
}

test('chaos: 5 node processes through seeded crashes, restarts and pauses lose no cloud', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t, 'bevy-chaos-test-')
  const abort = new AbortController()
  onTeardown(t, () => abort.abort()) // a test that times out still stops the run, which closes its nodes
  const lines: string[] = []
  const result = await runChaos({
    nodes: 5, durationMs: 15_000, seed: 20, // seed 20 plans a pause, a SIGTERM and a SIGKILL of the founder (long enough to count as down)
    clouds: 2, hostedClouds: 1, replicas: 3, recoveryBoundMs: 60_000,
    dht, dir, signal: abort.signal, log: (line) => lines.push(line)
  })
  const report = [...lines, ...figures(result)].join('\n')
  for (const line of figures(result)) if (line.length > 0) t.diagnostic(line)

  assert.ok(result.schedule.length > 0, 'the seed planned some faults')
  assert.equal(result.lostClouds, 0, `no cloud lost\n${report}`)
  assert.ok(result.recovery.recovered, `every cloud back at 3 live, synced replicas on every node\n${report}`)
  for (const v of result.verdicts) {
    assert.ok(v.readableEverywhere, `cloud ${v.key} reads back byte-identical from every node\n${report}`)
    assert.ok(v.copies.length >= 3, `cloud ${v.key} has a full copy on each of its replicas\n${report}`)
  }
  assert.equal(result.clients.total.wrong, 0, 'no client ever got bytes other than the owner\'s')
  assert.equal(result.hosted.verdicts.length, 1)
  assert.ok(result.hosted.writes.acknowledged > 0, `some hosted writes were acknowledged\n${report}`)
  for (const v of result.hosted.verdicts) assert.ok(v.servedEverywhere, `every acknowledged write to hosted cloud ${v.key} is served by every node\n${report}`)
  assert.ok(result.ok, `the run passed: ${result.failures.join('; ')}\n${report}`)
  assert.deepEqual(result.pids.filter(alive), [], 'no node process outlives the run')
})

test('chaos: the fault schedule is a pure function of the seed', async () => {
  const { planFaults } = await import('../sim/chaos/schedule.js')
  const plan = (seed: number) => planFaults({ seed, nodes: 5, durationMs: 60_000, maxDown: 1 })
  assert.deepEqual(plan(42), plan(42))
  assert.notDeepEqual(plan(42), plan(43))
  // At most one node out at a time, by plan.
  const faults = plan(42)
  for (let i = 1; i < faults.length; i++) {
    const prev = faults[i - 1]!
    assert.ok(faults[i]!.atMs > prev.atMs + prev.outageMs, `fault ${i} starts after fault ${i - 1} healed`)
  }
})
