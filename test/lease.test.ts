// When a node renews its lease in the view: every leaseIntervalMs, or sooner when its load moved.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { leaseDue, smoothLoad } from '../node/lease.js'

const config = { leaseIntervalMs: 30_000, leaseLoadDeltaPermille: 100, leaseLoadMinIntervalMs: 0, leaseMeshIntervalMs: 3_600_000 }
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

test('early renewals come at most once per leaseLoadMinIntervalMs, however the load moves', () => {
  const limited = { leaseIntervalMs: 300_000, leaseLoadDeltaPermille: 100, leaseLoadMinIntervalMs: 60_000, leaseMeshIntervalMs: 3_600_000 }
  const last = { nowMs: 0, load: load(50) }
  assert.equal(leaseDue(last, { nowMs: 59_999, load: load(900) }, limited), false, 'a big move waits for the minimum gap')
  assert.equal(leaseDue(last, { nowMs: 60_000, load: load(900) }, limited), true)
  assert.equal(leaseDue(last, { nowMs: 60_000, load: load(100) }, limited), false, 'a small move still waits for the interval')
  // A load that climbs steadily for 5 minutes, one sample per 2 s.
  let prev = null
  let n = 0
  for (let nowMs = 0; nowMs < 300_000; nowMs += 2000) {
    const next = { nowMs, load: load(Math.round(nowMs / 300)) }
    if (leaseDue(prev, next, limited)) { prev = next; n++ }
  }
  assert.equal(n, 5, 'the first lease, then one a minute')
})

test('while every live member hears its pings, a node renews only per leaseMeshIntervalMs, and at once when one stops hearing them', () => {
  const last = { nowMs: 0, load: load(50) }
  const meshed = { allLinked: true, linkLost: false }
  assert.equal(leaseDue(last, { nowMs: 30_000, load: load(50) }, config, meshed), false, 'nobody needs the lease')
  assert.equal(leaseDue(last, { nowMs: 30_000, load: load(900) }, config, meshed), false, 'nor its load: peers have it from pings')
  assert.equal(leaseDue(last, { nowMs: 3_600_000, load: load(50) }, config, meshed), true, 'kept fresh for nodes that start later')
  assert.equal(leaseDue(last, { nowMs: 2000, load: load(50) }, config, { allLinked: true, linkLost: true }), true, 'a lost link renews at once')
  assert.equal(leaseDue(last, { nowMs: 2000, load: load(50) }, config, { allLinked: false, linkLost: true }), true)
  assert.equal(leaseDue(last, { nowMs: 30_000, load: load(50) }, config, { allLinked: false, linkLost: false }), true, 'a partial mesh renews per leaseIntervalMs')
  assert.equal(leaseDue(last, { nowMs: 20_000, load: load(50) }, { ...config, leaseMeshIntervalMs: 1000 }, meshed), false, 'never more often than leaseIntervalMs')
})

test('a clock stepped backwards renews rather than waiting out a lease from the future', () => {
  assert.equal(leaseDue({ nowMs: 50_000, load: load(50) }, { nowMs: 10_000, load: load(50) }, config), true)
})

test('the smoothed load ignores a one-sample swing but follows a sustained change', () => {
  const smoothingMs = 10_000
  let avg = smoothLoad(null, load(100), 0, smoothingMs)
  assert.equal(avg.cpuPermille, 100, 'the first sample is taken as is')
  const spike = smoothLoad(avg, load(900), 2000, smoothingMs)
  assert.ok(spike.cpuPermille < 100 + config.leaseLoadDeltaPermille * 2, `one 2 s spike to 900 moves the average only to ${spike.cpuPermille}`)
  for (let t = 0; t < 30_000; t += 2000) avg = smoothLoad(avg, load(600), 2000, smoothingMs)
  assert.ok(avg.cpuPermille > 550, `30 s at 600 brings the average to ${avg.cpuPermille}`)
  assert.equal(avg.rssBytes, 100e6, 'counters are taken as sampled')
})

test('a noisy load renews the lease far less often when judged smoothed', () => {
  // A shared machine: CPU jumps between 200 and 800 permille from one 2 s sample to the next.
  const samples = Array.from({ length: 150 }, (_, i) => load(i % 2 === 0 ? 200 : 800))
  const leases = (smoothingMs: number) => {
    let avg = null
    let last = null
    let n = 0
    for (const [i, sample] of samples.entries()) {
      const nowMs = i * 2000
      avg = smoothLoad(avg, sample, 2000, smoothingMs)
      if (leaseDue(last, { nowMs, load: avg }, config)) { last = { nowMs, load: avg }; n++ }
    }
    return n
  }
  assert.equal(leases(0), 150, 'raw samples renew at every ping')
  assert.ok(leases(10_000) <= 150 * 2000 / config.leaseIntervalMs + 2, `smoothed: ${leases(10_000)} leases in 5 minutes`)
})
