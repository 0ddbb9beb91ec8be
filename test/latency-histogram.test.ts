// The router's own latency histogram (cheaper to observe than prom-client's) must render exactly
// as prom-client's Histogram does for the same observations.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Histogram, Registry, type Metric } from 'prom-client'
import { LatencyHistogram } from '../router/metrics.js'

test('LatencyHistogram exposes the same text as prom-client\'s Histogram', async () => {
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
  const theirs = new Registry()
  const reference = new Histogram({ name: 'latency_seconds', help: 'time to answer', buckets, registers: [theirs] })
  const ours = new Registry()
  const histogram = new LatencyHistogram('latency_seconds', 'time to answer', buckets)
  ours.registerMetric(histogram as unknown as Metric)
  assert.equal(await ours.metrics(), await theirs.metrics(), 'empty')
  // On a bound, between bounds, below the first, above the last.
  for (const seconds of [0.0005, 0.0001, 0.0007, 0.003, 0.003, 2, 2.5, 11, 1e-6, 0]) {
    reference.observe(seconds)
    histogram.observe(seconds)
  }
  assert.equal(await ours.metrics(), await theirs.metrics())
})
