// Liveness as judged from heartbeat progress on the observer's own clock.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classify, LivenessTracker } from '../placement/liveness.js'

const params = { suspectAfterMs: 5000, downAfterMs: 15_000 }

test('classify by heartbeat age', () => {
  const table: Array<[number, string]> = [[0, 'live'], [4999, 'live'], [5000, 'suspect'], [14_999, 'suspect'], [15_000, 'down'], [1e9, 'down']]
  for (const [age, expected] of table) assert.equal(classify(age, params), expected, `age ${age}`)
})

test('age counts from when the sequence last advanced, not from when it was last read', () => {
  const t = new LivenessTracker(params)
  t.observe('a', 1, 1000)
  t.observe('a', 1, 4000) // same seq seen again: no progress
  assert.equal(t.ageMs('a', 7000), 6000)
  assert.equal(t.state('a', 7000), 'suspect')
  t.observe('a', 2, 7000)
  assert.equal(t.state('a', 7000), 'live')
  assert.equal(t.state('a', 22_000), 'down')
})

test('a stale (lower) sequence does not refresh a node', () => {
  const t = new LivenessTracker(params)
  t.observe('a', 5, 0)
  t.observe('a', 3, 10_000)
  assert.equal(t.ageMs('a', 10_000), 10_000)
})

test('never-seen nodes are down; forgotten nodes too', () => {
  const t = new LivenessTracker(params)
  assert.equal(t.state('x', 0), 'down')
  assert.equal(t.ageMs('x', 0), null)
  t.observe('x', 1, 0)
  t.forget('x')
  assert.equal(t.state('x', 0), 'down')
})

test('a node back from down counts as stable only after the rejoin window', () => {
  const t = new LivenessTracker(params)
  t.observe('a', 1, 0)
  assert.equal(t.stable('a', 1000, 30_000), true, 'a node first seen is stable at once')
  assert.equal(t.state('a', 20_000), 'down')
  t.observe('a', 2, 20_000)
  assert.equal(t.state('a', 20_000), 'live')
  assert.equal(t.stable('a', 20_000, 30_000), false)
  for (let now = 22_000; now <= 50_000; now += 2000) t.observe('a', now, now)
  assert.equal(t.stable('a', 49_000, 30_000), false)
  assert.equal(t.stable('a', 50_000, 30_000), true)
})
