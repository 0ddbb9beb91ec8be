// The simulator: deterministic from its seed, every built-in scenario holds its invariants, a
// deliberately broken build is caught, and the seeds of bugs it found stay fixed.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cp, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isBevyError } from '../protocol/index.js'
import { toJson } from '../sim/report.js'
import { builtinScenarioNames, loadScenario, parseScenario } from '../sim/scenario.js'
import { simulate } from '../sim/simulator.js'
import { tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FIXTURES = join(ROOT, 'test', 'fixtures', 'sim')

test('the same seed gives byte-identical JSON; another seed gives another run', async () => {
  const scenario = loadScenario('partition')
  const a = toJson(await simulate({ seed: 42, scenario }))
  const b = toJson(await simulate({ seed: 42, scenario: loadScenario('partition') }))
  const c = toJson(await simulate({ seed: 43, scenario: loadScenario('partition') }))
  assert.equal(a, b)
  assert.notEqual(a, c)
})

test('every built-in scenario passes its invariants at its default size', async (t) => {
  const names = builtinScenarioNames()
  for (const expected of ['steady', 'one-crash', 'zone-down', 'partition', 'flapping-node', 'churn-storm', 'clock-skew', 'load-spike', 'rolling-restart', 'growth', 'drain']) {
    assert.ok(names.includes(expected), `built-in scenario ${expected}`)
  }
  for (const name of names) {
    await t.test(name, async () => {
      const result = await simulate({ seed: 20261121, scenario: loadScenario(name) })
      const failed = result.invariants.filter((v) => !v.ok)
      assert.deepEqual(failed, [], `${name}: ${failed.map((v) => `${v.name}: ${v.detail}`).join('; ')}`)
      assert.equal(result.invariants.length, 5)
      assert.ok(result.summary.requests > 0 && result.summary.availability > 0.9, `${name}: availability ${result.summary.availability}`)
      if (name === 'load-spike') {
        // 3 hot nodes of 20 hold ~15% of the replicas; routers lean away from them.
        assert.ok((result.summary.spikedShareOfRequests ?? 1) < 0.1, `hot nodes got ${result.summary.spikedShareOfRequests}`)
      }
    })
  }
})

test('a build with placement ignoring liveness is caught: the invariant is named with the seed and a replay command', async (t) => {
  const dir = await tempDir(t)
  await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
  await cp(join(ROOT, 'sim', 'scenarios'), join(dir, 'sim', 'scenarios'), { recursive: true })
  await cp(join(ROOT, 'package.json'), join(dir, 'package.json'))
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const runner = join(dir, 'dist', 'node', 'placement-runner.js')
  const source = await readFile(runner, 'utf8')
  const line = 'eligible: !n.drained && tracker.stable(n.idHex, now),'
  assert.ok(source.includes(line), 'the line to break is where the test expects it')
  await writeFile(runner, source.replace(line, 'eligible: !n.drained,'))
  // The bin runs the bundle, so the broken build is bundled as `npm run build` would.
  const bundled = spawnSync(process.execPath, [join(dir, 'dist', 'node', 'cli', 'bundle.js')], { encoding: 'utf8' })
  assert.equal(bundled.status, 0, bundled.stdout + bundled.stderr)

  const run = spawnSync(process.execPath, [join(dir, 'bin', 'bevy.js'), 'sim', '--seed', '7', '--scenario', 'one-crash'], { encoding: 'utf8' })
  assert.equal(run.status, 1, run.stdout + run.stderr)
  assert.match(run.stdout, /FAIL recovery/)
  assert.match(run.stdout, /FAILED: .*recovery.* \(seed 7\)/)
  assert.match(run.stdout, /replay: bevy sim --seed 7 --scenario one-crash/)

  const healthy = spawnSync(process.execPath, [join(ROOT, 'bin', 'bevy.js'), 'sim', '--seed', '7', '--scenario', 'one-crash'], { encoding: 'utf8' })
  assert.equal(healthy.status, 0, healthy.stdout + healthy.stderr)
})

test('regression seeds of bugs the simulator found', async (t) => {
  // The last field: whether the run must also copy no more than the faults made necessary.
  const cases: Array<[string, number, string, boolean]> = [
    // An observer stopped for 40 s judged everyone "back from down" and let go of all it held.
    ['pause', 1, 'pause', true],
    // A suspect node lost its targets: a 10 s blip copied ~10% of its replicas.
    [join(FIXTURES, 'short-outages.json'), 3, 'short outages', true],
    // Probation ending while a flapping node was suspect handed its replicas back and forth.
    ['flapping-node', 2, 'flapping', true],
    // A node restarted during the storm gave every peer a fresh window, so it routed a request to
    // one that had died while it was down (seeds 2 and 6 at 100 nodes).
    [join(FIXTURES, 'churn-storm-100.json'), 2, 'restarted router and a peer that died meanwhile', false]
  ]
  for (const [scenario, seed, what, strictCopies] of cases) {
    await t.test(`${what} (seed ${seed})`, async () => {
      const result = await simulate({ seed, scenario: loadScenario(scenario) })
      for (const v of result.invariants) assert.ok(v.ok, `${v.name}: ${v.detail}`)
      if (strictCopies) assert.ok(result.summary.copies <= result.summary.necessaryCopies, `${result.summary.copies} copies for ${result.summary.necessaryCopies} necessary`)
    })
  }
})

test('scenario files are validated field by field', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ faults: [{ kind: 'meteor' }] }, /faults\[0\]\.kind must be one of/],
    [{ nodes: 0 }, /nodes must be a number from 1/],
    [{ duration: 'soon' }, /duration takes a duration/],
    [{ config: { heartbeatMs: 5 } }, /config\.heartbeatMs is not a tunable/],
    [[], /must be an object/]
  ]
  for (const [raw, message] of bad) {
    assert.throws(() => parseScenario(raw, 'x.json'), (err: unknown) => isBevyError(err) && message.test(err.message))
  }
  assert.equal(parseScenario({}).nodes, 20, 'defaults fill what a file leaves out')
})

test('bevy sim: --list-scenarios, --json, and a clear error for a bad scenario', () => {
  const bin = join(ROOT, 'bin', 'bevy.js')
  const list = spawnSync(process.execPath, [bin, 'sim', '--list-scenarios'], { encoding: 'utf8' })
  assert.equal(list.status, 0)
  assert.deepEqual(list.stdout.trim().split('\n'), builtinScenarioNames())
  const json = spawnSync(process.execPath, [bin, 'sim', '--seed', '5', '--scenario', 'steady', '--duration', '2m', '--json'], { encoding: 'utf8' })
  assert.equal(json.status, 0, json.stderr)
  const parsed = JSON.parse(json.stdout) as { seed: number, ok: boolean, invariants: unknown[] }
  assert.equal(parsed.seed, 5)
  assert.equal(parsed.ok, true)
  const missing = spawnSync(process.execPath, [bin, 'sim', '--scenario', 'nope'], { encoding: 'utf8' })
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /no scenario "nope"/)
  assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/, 'no stack trace')
})
