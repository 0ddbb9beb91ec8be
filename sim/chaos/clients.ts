// Simulated clients: each GETs a random file of a random cloud from a random node that is up,
// following redirects like a browser, and checks the bytes. A request counts as served only when
// the answer is 200 with exactly the owner's bytes; anything else counts as failed, by reason.
import { setTimeout as sleep } from 'node:timers/promises'
import { rngInt, type Rng } from '../../protocol/ports.js'
import type { ChaosCluster } from './cluster.js'
import type { CloudContent } from './owner.js'

/** A client gives up on one request after this long (a paused replica answers nothing). */
const REQUEST_TIMEOUT_MS = 5000
/** Failures kept in detail: a few of each reason, so a rare one is not drowned by common ones. */
const SAMPLES_PER_REASON = 3
const MAX_SAMPLES = 24
/** Pause between one client's requests: enough traffic to see outages without loading the machine. */
const THINK_MS = 25

export interface ClientCounts {
  requests: number
  served: number
  failed: number
  /** 200 with bytes other than the owner's: must stay 0. */
  wrong: number
  /** Failure reasons and how often each happened. */
  reasons: Map<string, number>
  /** The first few failures in detail, to tell an injected outage from a bug. */
  samples: string[]
}

export type Phase = 'faults' | 'recovery'

export class ClientLoad {
  readonly counts: Record<Phase, ClientCounts> = { faults: emptyCounts(), recovery: emptyCounts() }
  phase: Phase = 'faults'
  private stopped = false
  private readonly t0 = Date.now()
  private workers: Promise<void>[] = []

  constructor (private readonly cluster: ChaosCluster, private readonly clouds: CloudContent[], private readonly rng: Rng) {}

  start (concurrency: number): void {
    for (let i = 0; i < concurrency; i++) this.workers.push(this.loop())
  }

  async stop (): Promise<void> {
    this.stopped = true
    await Promise.all(this.workers)
  }

  total (): ClientCounts {
    const all = emptyCounts()
    for (const c of Object.values(this.counts)) {
      all.requests += c.requests
      all.served += c.served
      all.failed += c.failed
      all.wrong += c.wrong
      for (const [r, n] of c.reasons) all.reasons.set(r, (all.reasons.get(r) ?? 0) + n)
      all.samples.push(...c.samples)
    }
    return all
  }

  private nameOf (id: string | null): string {
    const n = this.cluster.nodes.find((m) => m.id === id)
    return n === undefined ? String(id) : `n${n.index}`
  }

  private async loop (): Promise<void> {
    while (!this.stopped) {
      const up = this.cluster.up()
      if (up.length > 0) await this.once(up)
      await sleep(THINK_MS)
    }
  }

  private async once (up: ReturnType<ChaosCluster['up']>): Promise<void> {
    const node = up[rngInt(this.rng, up.length)]!
    const cloud = this.clouds[rngInt(this.rng, this.clouds.length)]!
    const paths = [...cloud.files.keys()]
    const path = paths[rngInt(this.rng, paths.length)]!
    const counts = this.counts[this.phase]
    counts.requests++
    const started = Date.now()
    const where = `t=${((started - this.t0) / 1000).toFixed(1)}s via n${node.index} ${cloud.key.slice(0, 8)}/${path}`
    const out = this.cluster.out().map((n) => `n${n.index}:${n.state}`).join(',') || 'none'
    try {
      const res = await fetch(`${node.url}/c/${cloud.key}/${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      const body = Buffer.from(await res.arrayBuffer())
      const answered = `answered by ${this.nameOf(res.headers.get('x-bevy-node'))}${res.redirected ? ' after a redirect' : ''}`
      if (res.status !== 200) return fail(counts, `HTTP ${res.status}`, `${where}: ${res.status} ${answered} ${body.toString().slice(0, 120)} (out: ${out})`)
      if (!body.equals(cloud.files.get(path)!)) {
        counts.wrong++
        return fail(counts, 'wrong bytes', `${where}: wrong bytes ${answered} (out: ${out})`)
      }
      counts.served++
    } catch (err) {
      fail(counts, reasonOf(err), `${where}: ${reasonOf(err)} after ${Date.now() - started} ms (out: ${out})`)
    }
  }
}

function emptyCounts (): ClientCounts {
  return { requests: 0, served: 0, failed: 0, wrong: 0, reasons: new Map(), samples: [] }
}

function fail (c: ClientCounts, reason: string, detail: string): void {
  c.failed++
  const seen = c.reasons.get(reason) ?? 0
  if (seen < SAMPLES_PER_REASON && c.samples.length < MAX_SAMPLES) c.samples.push(detail)
  c.reasons.set(reason, seen + 1)
}

/** A short reason: timeout, or the socket error code under fetch's generic "fetch failed". */
export function reasonOf (err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout'
  const cause = (err as { cause?: { code?: string, message?: string } })?.cause
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))
}
