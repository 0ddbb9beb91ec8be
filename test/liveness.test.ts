// Liveness as judged from heartbeat progress on the observer's own clock.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classify, LivenessTracker } from '../placement/liveness.js'

const params = { suspectAfterMs: 5000, downAfterMs: 15_000, rejoinStableMs: 30_000 }

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
  assert.equal(t.stable('a', 1000), true, 'a node first seen is stable at once')
  assert.equal(t.state('a', 20_000), 'down')
  t.observe('a', 2, 20_000)
  assert.equal(t.state('a', 20_000), 'live')
  assert.equal(t.stable('a', 20_000), false)
  for (let now = 22_000; now <= 48_000; now += 2000) t.observe('a', now, now)
  assert.equal(t.stable('a', 49_000), false)
  t.observe('a', 50_000, 50_000)
  assert.equal(t.stable('a', 50_000), true)
})

test('a suspect node keeps its replicas; only down takes them away', () => {
  const t = new LivenessTracker(params)
  t.observe('a', 1, 0)
  assert.equal(t.state('a', 6000), 'suspect')
  assert.equal(t.stable('a', 6000), true)
  assert.equal(t.stable('a', 15_000), false)
})

test('an observer that read nothing for downAfterMs judges everyone afresh instead of as recovered', () => {
  const t = new LivenessTracker(params)
  t.observeAll([{ id: 'a', seq: 1 }, { id: 'b', seq: 1 }], 0)
  assert.equal(t.stale(4000), false)
  assert.equal(t.stale(5000), true, 'no read for suspectAfterMs: its judgement is out of date')
  // Stopped for 40 s: 'a' went on heartbeating meanwhile, 'b' did not.
  t.observeAll([{ id: 'a', seq: 21 }, { id: 'b', seq: 1 }], 40_000)
  assert.equal(t.stable('a', 40_000), true, 'not marked as back from down')
  assert.equal(t.state('b', 40_000), 'live', 'given one window, like a node first seen')
  assert.equal(t.state('b', 55_000), 'down')
  // A normal read afterwards: a node whose heartbeat resumes after being down is back from down.
  for (let now = 41_000; now <= 56_000; now += 1000) t.observeAll([{ id: 'a', seq: now }, { id: 'b', seq: 1 }], now)
  t.observeAll([{ id: 'a', seq: 57_000 }, { id: 'b', seq: 2 }], 57_000)
  assert.equal(t.stable('b', 57_000), false)
})

test('a running observer of a quiet view stays current: a dead node goes down and stays down', () => {
  const t = new LivenessTracker(params)
  t.observeAll([{ id: 'a', seq: 1 }, { id: 'dead', seq: 1 }], 0)
  // Leases are rare at idle: 'a' renews every 30 s, 'dead' never again. The observer ticks every second.
  const states: string[] = []
  for (let now = 1000; now <= 90_000; now += 1000) {
    assert.equal(t.awake(now), true, `tick at ${now}`)
    if (now % 30_000 === 0) t.observeAll([{ id: 'a', seq: now }, { id: 'dead', seq: 1 }], now)
    states.push(t.state('dead', now))
  }
  assert.equal(states.indexOf('down'), 14, 'down at downAfterMs (15 s)')
  assert.ok(states.slice(14).every((s) => s === 'down'), 'never live again: a quiet spell is not a blind one')
  assert.equal(t.state('a', 90_000), 'live')
})

test('a tick that comes suspectAfterMs late is a pause: the observer must read the view before judging', () => {
  const t = new LivenessTracker(params)
  assert.equal(t.awake(0), false, 'nothing read yet')
  t.observeAll([{ id: 'a', seq: 1 }, { id: 'b', seq: 1 }], 0)
  assert.equal(t.awake(1000), true)
  assert.equal(t.awake(21_000), false, 'stopped for 20 s')
  assert.equal(t.stale(21_000), true)
  // The read after the pause judges afresh ('a' renewed meanwhile, 'b' did not), not as recovered or down.
  t.observeAll([{ id: 'a', seq: 9 }, { id: 'b', seq: 1 }], 21_000)
  assert.equal(t.stale(21_000), false)
  assert.equal(t.state('b', 21_000), 'live')
  assert.equal(t.stable('a', 21_000), true)
  assert.equal(t.awake(500), false, 'a clock that went back is a pause too')
})

test('a node on probation that stalls starts its probation over, and one that passed it is left alone', () => {
  const t = new LivenessTracker(params)
  t.observe('a', 1, 0)
  t.observe('a', 2, 20_000) // back from down at 20 s
  for (let now = 22_000; now <= 40_000; now += 2000) t.observe('a', now, now)
  assert.equal(t.stable('a', 46_000), false, 'stalled at 40 s, 10 s short of its probation: not given replicas while suspect')
  t.observe('a', 47_000, 47_000) // a 7 s stall: the probation starts over
  for (let now = 49_000; now <= 77_000; now += 2000) t.observe('a', now, now)
  assert.equal(t.stable('a', 77_000), true)
  t.observe('a', 84_000, 84_000) // a stall after the probation: nothing changes
  assert.equal(t.stable('a', 84_000), true)
})

test('a node first seen with an old heartbeat is not routed to until its heartbeat advances', () => {
  const t = new LivenessTracker(params)
  // A freshly started observer: 'a' heartbeated a moment ago, 'b' last wrote 12 s ago (on its clock).
  t.observeAll([{ id: 'a', seq: 5, clockMs: 99_000 }, { id: 'b', seq: 7, clockMs: 88_000 }, { id: 'c', seq: 1 }], 100_000)
  assert.equal(t.state('b', 100_000), 'live', 'placement still gives it one window')
  assert.equal(t.stable('b', 100_000), true)
  assert.equal(t.routeState('b', 100_000), 'suspect', 'but the router does not trust the old record')
  assert.equal(t.routeState('a', 100_000), 'live')
  assert.equal(t.routeState('c', 100_000), 'live', 'no clock in the record: judged as before')
  t.observeAll([{ id: 'a', seq: 6, clockMs: 100_000 }, { id: 'b', seq: 8, clockMs: 60_000 }], 101_000)
  assert.equal(t.routeState('b', 101_000), 'live', 'an advancing heartbeat is proof of life, whatever its clock says')
})

test('pings are proof of life between leases; a node known from the view alone gets the lease\'s slack', () => {
  const leased = { ...params, heartbeatIntervalMs: 1000, leaseIntervalMs: 30_000 }
  const t = new LivenessTracker(leased)
  t.observeAll([{ id: 'pinging', seq: 1 }, { id: 'remote', seq: 1 }], 0)
  for (let now = 1000; now <= 20_000; now += 1000) t.pinged('pinging', now)
  assert.equal(t.state('pinging', 20_000), 'live', 'no lease for 20 s, but it pings')
  assert.equal(t.state('remote', 20_000), 'live', 'view only: 20 s is within a 30 s lease plus suspectAfterMs')
  assert.equal(t.state('remote', 29_000 + 5000), 'suspect')
  assert.equal(t.state('remote', 29_000 + 15_000), 'down')
  // The pinging node dies: its pings stop, and no lease comes. Down downAfterMs after its last ping.
  assert.equal(t.state('pinging', 20_000 + 5000), 'suspect')
  assert.equal(t.state('pinging', 20_000 + 15_000), 'down')
})

test('a peer whose connection closed but whose lease goes on is judged by the view, not as down', () => {
  const leased = { ...params, heartbeatIntervalMs: 1000, leaseIntervalMs: 30_000 }
  const t = new LivenessTracker(leased)
  t.observeAll([{ id: 'a', seq: 1 }], 0)
  t.pinged('a', 1000)
  t.unlinked('a')
  t.observeAll([{ id: 'a', seq: 2 }], 10_000)
  assert.equal(t.state('a', 10_000 + 20_000), 'live', 'its lease renewed after the connection closed: view rules now')
  assert.equal(t.stable('a', 30_000), true)
  // Connected again: pings rule again.
  t.pinged('a', 31_000)
  assert.equal(t.state('a', 31_000 + 15_000), 'down')
})
