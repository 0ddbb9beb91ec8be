// When a node renews its lease in the view: every leaseIntervalMs, or sooner when its load moved.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { leaseDue } from '../node/lease.js'

const config = { leaseIntervalMs: 30_000, leaseLoadDeltaPermille: 100 }
const load = (cpuPermille: number, memPermille = 300, eventLoopPermille = 10) => ({ cpuPermille, memPermille, eventLoopPermille, rssBytes: 100e6, memFreeBytes: 1e9, connections: 9 })

test('the first lease is due at once, then one per interval while the load holds', () => {
  assert.equal(leaseDue(null, { nowMs: 0, load: load(50) }, config), true)
  const last = { nowMs: 0, load: load(50) }
  assert.equal(leaseDue(last, { nowMs: 29_999, load: load(120) }, config), false, 'a small load change waits')
  assert.equal(leaseDue(last, { nowMs: 30_000, load: load(50) }, config), true)
})

test('a material load change renews the lease early, on any of the three figures', () => {
  const last = { nowMs: 0, load: load(50) }
  assert.equal(leaseDue(last, { nowMs: 2000, load: load(150) }, config), true, 'CPU')
  assert.equal(leaseDue(last, { nowMs: 2000, load: load(50, 400) }, config), true, 'memory')
  assert.equal(leaseDue(last, { nowMs: 2000, load: load(50, 300, 110) }, config), true, 'event loop')
})

test('a clock stepped backwards renews rather than waiting out a lease from the future', () => {
  assert.equal(leaseDue({ nowMs: 50_000, load: load(50) }, { nowMs: 10_000, load: load(50) }, config), true)
})
