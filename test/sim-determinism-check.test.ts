// The simulator's determinism check (same-ops-same-replicas) spares the fresh engine when nothing
// changed since a check that passed. Sparing it must not change any run, and a placement that
// drifts from what a fresh engine computes must still be caught.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PlacementEngine, type Placement, type PlacementInput } from '../placement/index.js'
import { toJson } from '../sim/report.js'
import { loadScenario } from '../sim/scenario.js'
import { simulate } from '../sim/simulator.js'

test('sparing unchanged determinism checks gives the same run as a fresh engine at every check', async () => {
  for (const [name, seed] of [['steady', 20261121], ['churn-storm', 20261121], ['partition', 3]] as const) {
    const spared = toJson(await simulate({ seed, scenario: loadScenario(name) }))
    const full = toJson(await simulate({ seed, scenario: loadScenario(name), freshEveryCheck: true }))
    assert.equal(spared, full, name)
  }
})

test('a placement engine that keeps its first answer whatever the input is caught by same-ops-same-replicas', async (t) => {
  const compute = PlacementEngine.prototype.compute
  const first = new WeakMap<PlacementEngine, Placement>()
  PlacementEngine.prototype.compute = function (this: PlacementEngine, input: PlacementInput): Placement {
    let placement = first.get(this)
    if (placement === undefined) first.set(this, placement = compute.call(this, input))
    return placement
  }
  t.after(() => { PlacementEngine.prototype.compute = compute })
  const result = await simulate({ seed: 7, scenario: loadScenario('one-crash') })
  const verdict = result.invariants.find((v) => v.name === 'same-ops-same-replicas')
  assert.equal(verdict?.ok, false, JSON.stringify(verdict))
})
