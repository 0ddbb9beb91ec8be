// Prometheus metrics at /metrics (admin token or dashboard session). The node's figures are read
// when scraped; the router's outcomes and request latency are counted as requests go by.
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import type { Bevy } from '../node/bevy.js'
import { errorSchema } from './schemas.js'

export const ROUTER_OUTCOMES = ['served', 'redirected', 'proxied', 'unavailable'] as const
export type RouterOutcome = typeof ROUTER_OUTCOMES[number]

/** How a write to a hosted cloud at this node ended. */
export const HOSTED_WRITE_RESULTS = ['written', 'refused', 'unconfirmed', 'failed'] as const
export type HostedWriteResult = typeof HOSTED_WRITE_RESULTS[number]

/** What the request path reports; a no-op where nobody scrapes (tests, benchmarks of parts). */
export interface RouterMetrics {
  outcome: (kind: RouterOutcome) => void
  /** Seconds from a request's arrival to its answer. */
  latency: (seconds: number) => void
  hostedWrite: (result: HostedWriteResult) => void
}

export const NO_ROUTER_METRICS: RouterMetrics = { outcome: () => {}, latency: () => {}, hostedWrite: () => {} }

/** Process metrics (CPU, heap, event loop) are per process, and their collectors start once. */
let processRegistry: Registry | null = null
function processMetrics (): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

const STATES = ['live', 'suspect', 'down', 'draining', 'left'] as const

export class NodeMetrics implements RouterMetrics {
  readonly registry = new Registry()
  /**
   * Router outcomes, counted here and handed to prom-client when scraped: its inc() on every request
   * was ~3 % of a redirect's CPU (bench:router profile).
   */
  private readonly outcomes: Record<RouterOutcome, number> = { served: 0, redirected: 0, proxied: 0, unavailable: 0 }
  private readonly latencies: LatencyHistogram
  private readonly hostedWrites: Counter

  constructor (bevy: Bevy) {
    const registers = [this.registry]
    const counted = this.outcomes
    const reported: Record<RouterOutcome, number> = { ...counted }
    const requests = new Counter({
      name: 'bevy_router_requests_total',
      help: 'Cloud requests by how this node answered them',
      labelNames: ['outcome'],
      registers,
      collect () {
        for (const outcome of ROUTER_OUTCOMES) {
          if (counted[outcome] > reported[outcome]) this.inc({ outcome }, counted[outcome] - reported[outcome])
          reported[outcome] = counted[outcome]
        }
      }
    })
    // Every outcome is exported from the start, at 0: prom-client's labels() alone creates no series,
    // and a series that appears only on its first increment hides that increase from rate().
    for (const outcome of ROUTER_OUTCOMES) requests.inc({ outcome }, 0)
    this.hostedWrites = new Counter({ name: 'bevy_hosted_writes_total', help: 'PUTs and DELETEs to hosted clouds this node took, by how they ended', labelNames: ['result'], registers })
    for (const result of HOSTED_WRITE_RESULTS) this.hostedWrites.inc({ result }, 0)
    this.latencies = new LatencyHistogram(
      'bevy_http_request_duration_seconds',
      'Time from a request\'s arrival to its answer (for streamed files: to the start of the body)',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
    )
    this.registry.registerMetric(this.latencies as unknown as Metric)
    const opened = () => bevy.opened && bevy.closing === null
    new Gauge({
      name: 'bevy_nodes',
      help: 'Nodes of the bevy by state, as this node judges them',
      labelNames: ['state'],
      registers,
      collect () {
        this.reset()
        for (const state of STATES) this.set({ state }, 0)
        if (!opened()) return
        for (const node of bevy.status().nodes) this.inc({ state: node.state })
      }
    })
    new Gauge({
      name: 'bevy_clouds', help: 'Registered clouds', registers,
      collect () { this.set(opened() ? bevy.snapshot.clouds.length : 0) }
    })
    new Gauge({
      name: 'bevy_clouds_under_replicated',
      help: 'Clouds with fewer live, synced replicas than they ask for',
      registers,
      collect () { this.set(opened() ? bevy.underReplicatedClouds() : 0) }
    })
    let syncReported = 0
    new Counter({
      name: 'bevy_sync_bytes_total', help: 'Bytes of cloud data this node downloaded from other replicas or owners', registers,
      collect () {
        const total = bevy.gauges().syncBytes
        if (total > syncReported) this.inc(total - syncReported)
        syncReported = total
      }
    })
    new Gauge({ name: 'bevy_view_length', help: 'Blocks in the shared view (Hyperbee) of the cluster log', registers, collect () { this.set(bevy.gauges().viewLength) } })
    new Gauge({ name: 'bevy_cluster_log_length', help: 'Length of the linearised cluster log', registers, collect () { this.set(bevy.gauges().logLength) } })
    new Gauge({ name: 'bevy_disk_bytes', help: 'Bytes the node\'s storage directory occupies, last measured', registers, collect () { this.set(bevy.gauges().diskBytes) } })
  }

  outcome (kind: RouterOutcome): void {
    this.outcomes[kind]++
  }

  latency (seconds: number): void {
    this.latencies.observe(seconds)
  }

  hostedWrite (result: HostedWriteResult): void {
    this.hostedWrites.inc({ result })
  }

  async text (): Promise<string> {
    return (await this.registry.metrics()) + (await processMetrics().metrics())
  }
}

/**
 * A histogram without labels whose observe() is a few array operations. prom-client's own
 * Histogram.observe keys its bucket counts by the bounds (float strings), which goes through V8's
 * runtime on every call: ~1 us a request, a twentieth of a redirect's whole cost (BENCHMARKS.md).
 * prom-client still renders it: the registry takes any object whose get() gives the values.
 */
export class LatencyHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly bounds: Float64Array
  /** Per bucket, not cumulative; the last one is +Inf. */
  private readonly counts: Float64Array
  private sum = 0
  private count = 0

  constructor (readonly name: string, readonly help: string, bounds: number[]) {
    this.bounds = Float64Array.from(bounds)
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe (value: number): void {
    let i = 0
    while (i < this.bounds.length && value > this.bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }

  async get () {
    const values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> = []
    let cumulative = 0
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i]!
      values.push({ metricName: `${this.name}_bucket`, labels: { le: i < this.bounds.length ? this.bounds[i]! : '+Inf' }, value: cumulative })
    }
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum }, { metricName: `${this.name}_count`, labels: {}, value: this.count })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
}

export function metricsRoutes (metrics: NodeMetrics) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/metrics', {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['operations'],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, '4xx': errorSchema }
      }
    }, async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.text()
    })
  }
}
