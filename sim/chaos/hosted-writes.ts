// Hosted clouds under chaos: a writer PUTs new files to hosted clouds through random nodes that
// are up (a 307 to a replica is followed, body and all, like any HTTP client) while faults run.
// Every path is written once, so each write that got 201 has exactly one right answer, and after
// recovery every node must serve every acknowledged write byte for byte. A write that got no 201
// may or may not be there; only the acknowledged ones are checked.
import { setTimeout as sleep } from 'node:timers/promises'
import { rngInt, type Rng } from '../../protocol/ports.js'
import { reasonOf } from './clients.js'
import type { ChaosCluster } from './cluster.js'

/** A write waits for a second replica to hold it; a paused replica may hold the answer this long. */
const WRITE_TIMEOUT_MS = 10_000
/** Pause between writes: a steady trickle, enough to land writes in every outage. */
const THINK_MS = 100
const MIN_BYTES = 16
const MAX_BYTES = 4096
/** Refusal reasons kept in detail, so a rare one is not drowned by common ones. */
const MAX_SAMPLES = 12

export interface HostedCloud { key: string, token: string }

export interface HostedWriteCounts {
  attempts: number
  /** Writes answered 201: each must survive. */
  acknowledged: number
  /** Why the others got no 201, and how often. */
  refused: Map<string, number>
  samples: string[]
}

export interface HostedVerdict {
  key: string
  acknowledged: number
  /** Every acknowledged write served byte for byte by every node. */
  servedEverywhere: boolean
  problems: string[]
}

export class HostedWriter {
  readonly counts: HostedWriteCounts = { attempts: 0, acknowledged: 0, refused: new Map(), samples: [] }
  /** Per cloud key: path → the bytes a 201 acknowledged. */
  readonly acknowledged = new Map<string, Map<string, Buffer>>()
  /** Per path: the node a write was sent to and the one that answered 201, for a failure's report. */
  readonly answeredBy = new Map<string, string>()
  private seq = 0
  private stopped = false
  private worker: Promise<void> | null = null

  constructor (private readonly cluster: ChaosCluster, readonly clouds: HostedCloud[], private readonly rng: Rng) {
    for (const c of clouds) this.acknowledged.set(c.key, new Map())
  }

  start (): void {
    this.worker ??= this.loop()
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.worker
  }

  private async loop (): Promise<void> {
    while (!this.stopped) {
      const up = this.cluster.up()
      if (up.length > 0 && this.clouds.length > 0) await this.once(up)
      await sleep(THINK_MS)
    }
  }

  private async once (up: ReturnType<ChaosCluster['up']>): Promise<void> {
    const node = up[rngInt(this.rng, up.length)]!
    const cloud = this.clouds[rngInt(this.rng, this.clouds.length)]!
    const path = `w/${String(++this.seq).padStart(5, '0')}.bin`
    const bytes = randomBytes(this.rng, MIN_BYTES + rngInt(this.rng, MAX_BYTES - MIN_BYTES))
    this.counts.attempts++
    let reason: string
    try {
      const res = await fetch(`${node.url}/c/${cloud.key}/${path}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${cloud.token}`, 'content-type': 'application/octet-stream' },
        body: new Blob([new Uint8Array(bytes)]), // a Blob, not bytes: a 307 sends the body again, and fetch transfers an ArrayBuffer away on the first send
        signal: AbortSignal.timeout(WRITE_TIMEOUT_MS)
      })
      const text = await res.text()
      if (res.status === 201) {
        this.acknowledged.get(cloud.key)!.set(path, bytes)
        this.answeredBy.set(path, `sent to n${node.index}, 201 from ${this.nameOf(res.headers.get('x-bevy-replica') ?? res.headers.get('x-bevy-node'))}`)
        this.counts.acknowledged++
        return
      }
      reason = `HTTP ${res.status}`
      this.sample(`${path} via n${node.index}: ${res.status} ${text.slice(0, 120)}`)
    } catch (err) {
      reason = reasonOf(err)
      this.sample(`${path} via n${node.index}: ${reason}`)
    }
    this.counts.refused.set(reason, (this.counts.refused.get(reason) ?? 0) + 1)
  }

  private nameOf (id: string | null): string {
    const n = this.cluster.nodes.find((m) => m.id === id)
    return n === undefined ? String(id) : `n${n.index}`
  }

  private sample (line: string): void {
    if (this.counts.samples.length < MAX_SAMPLES) this.counts.samples.push(line)
  }
}

/** Reads every acknowledged write back from every node (as a client, redirects followed). */
export async function verifyHostedWrites (cluster: ChaosCluster, writer: HostedWriter): Promise<HostedVerdict[]> {
  const verdicts: HostedVerdict[] = []
  for (const cloud of writer.clouds) {
    const writes = writer.acknowledged.get(cloud.key)!
    const problems: string[] = []
    for (const n of cluster.nodes) {
      if (n.state !== 'up') {
        problems.push(`n${n.index} not up`)
        continue
      }
      for (const [path, bytes] of writes) {
        const got = await read(`${n.url}/c/${cloud.key}/${path}`)
        if (got.status !== 200 || !got.body.equals(bytes)) problems.push(`n${n.index} ${path} (${writer.answeredBy.get(path) ?? '?'}): ${got.status === 200 ? 'different bytes' : got.status}`)
      }
    }
    verdicts.push({ key: cloud.key, acknowledged: writes.size, servedEverywhere: problems.length === 0, problems: problems.slice(0, 10) })
  }
  return verdicts
}

async function read (url: string): Promise<{ status: number | string, body: Buffer }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
  } catch (err) {
    return { status: reasonOf(err), body: Buffer.alloc(0) }
  }
}

function randomBytes (rng: Rng, length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let i = 0; i < length; i += 4) out.writeUInt32LE(rng.nextUint32(), Math.min(i, length - 4))
  return out
}
