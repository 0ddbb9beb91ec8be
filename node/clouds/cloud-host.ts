// The clouds this node holds. Opens a replica when placement wants one here, purges it when
// placement lets go (only after handoff), and turns sync progress into throttled view records.
// Work on one cloud is serialised, so a purge always finishes before the same cloud reopens.
import type ProtomuxWakeup from 'protomux-wakeup'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import { formatKey, OpType, type Clock, type CloudProgressOp, type SyncProgress } from '../../protocol/index.js'
import type { Logger } from '../log.js'
import { Coalesced } from '../timer.js'
import type { LocalHoldings } from '../reconciler.js'
import { HostedCloud } from '../hosted/hosted-cloud.js'
import { CloudReplica, type ReplicaStatus } from './cloud-replica.js'

/** A cloud held here: an owner's drive followed read-only, or a hosted cloud this node writes to. */
export type HeldCloud = CloudReplica | HostedCloud

/** Wait after a cloud fails to open before trying again; doubles per failure up to the max. */
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 60_000

export interface CloudHostOptions {
  store: Corestore
  clock: Clock
  swarm: Hyperswarm
  /** The node's wakeup protocol, for hosted clouds' Autobases. */
  wakeup: ProtomuxWakeup
  log: Logger
  /** Reclaims the space of purged blocks (a storage compaction). */
  compact: () => Promise<void>
  /** Called when a cloud's sticky synced flag changes or a cloud finished opening or purging. */
  onHoldingChange: () => void
  /** A hosted cloud's Autobase key, or null for an owner-held cloud. */
  hostedBase: (cloudHex: string) => Buffer | null
  /** Called when this node becomes a writer of a hosted cloud (it may have writers to admit). */
  onHostedChange?: (cloudHex: string) => void
  /** Recompute hosted clouds' unindexed tips on open: the last run did not stop cleanly. */
  recomputeTip?: boolean
}

export class CloudHost implements LocalHoldings {
  private readonly replicas = new Map<string, HeldCloud>()
  /** Tail of each cloud's serial work queue; present while work is queued. */
  private readonly queues = new Map<string, Promise<void>>()
  /** What each cloud is heading to: open (true) or purged (false). */
  private readonly intents = new Map<string, boolean>()
  private readonly lastSynced = new Map<string, boolean>()
  private readonly written = new Map<string, string>()
  /** Clouds purged in this run, so a copy left by a crash is purged once before it is let go. */
  private readonly purged = new Set<string>()
  /** Clouds whose last open failed: not retried before `untilMs`, so a broken disk is no hot loop. */
  private readonly failed = new Map<string, { untilMs: number, waitMs: number }>()
  private readonly compactor: Coalesced
  private closed = false
  /** Bytes of cloud blocks downloaded in this run, for metrics. */
  downloadedBytes = 0

  constructor (private readonly opts: CloudHostOptions) {
    this.compactor = new Coalesced(() => opts.compact())
  }

  holds (cloudHex: string): boolean {
    return this.replicas.has(cloudHex) || this.queues.has(cloudHex)
  }

  heldClouds (): Iterable<string> {
    return new Set([...this.replicas.keys(), ...this.queues.keys()])
  }

  released (cloudHex: string): boolean {
    return this.purged.has(cloudHex) && !this.holds(cloudHex)
  }

  synced (cloudHex: string): boolean | null {
    const replica = this.replicas.get(cloudHex)
    return replica?.opened === true ? replica.status().synced : null
  }

  /** The open replica of a cloud, for serving. */
  replica (cloudHex: string): HeldCloud | undefined {
    const r = this.replicas.get(cloudHex)
    return r?.opened === true && r.closing === null ? r : undefined
  }

  open (cloudHex: string): void {
    if (this.intents.get(cloudHex) === true || (this.replicas.has(cloudHex) && !this.queues.has(cloudHex))) return
    if (this.backingOff(cloudHex)) return
    this.intents.set(cloudHex, true)
    this.enqueue(cloudHex, async () => {
      if (this.replicas.has(cloudHex) || this.closed) return
      this.purged.delete(cloudHex)
      const replica = this.replicaOf(cloudHex, true)
      this.replicas.set(cloudHex, replica)
      try {
        await replica.ready()
        this.opts.log.info({ cloud: cloudText(cloudHex) }, 'replica opened')
      } catch (err) {
        this.replicas.delete(cloudHex)
        await replica.close().catch(() => {})
        throw err
      }
    })
  }

  /** Open hosted clouds, for writes and writer upkeep. */
  hosted (): HostedCloud[] {
    return [...this.replicas.values()].filter((r): r is HostedCloud => r instanceof HostedCloud && r.opened && r.closing === null)
  }

  private replicaOf (cloudHex: string, follow: boolean): HeldCloud {
    const base = this.opts.hostedBase(cloudHex)
    if (base !== null) {
      return new HostedCloud({
        store: this.opts.store.namespace('cloud/' + cloudHex),
        swarm: this.opts.swarm,
        wakeup: this.opts.wakeup,
        key: Buffer.from(cloudHex, 'hex'),
        base,
        log: this.opts.log,
        onChange: () => this.onReplicaChange(cloudHex),
        onWritable: () => this.opts.onHostedChange?.(cloudHex),
        onDownload: (bytes) => { this.downloadedBytes += bytes },
        follow,
        recomputeTip: this.opts.recomputeTip === true
      })
    }
    return new CloudReplica({
      store: this.opts.store.namespace('cloud/' + cloudHex),
      swarm: this.opts.swarm,
      key: Buffer.from(cloudHex, 'hex'),
      onChange: () => this.onReplicaChange(cloudHex),
      onDownload: (bytes) => { this.downloadedBytes += bytes },
      follow
    })
  }

  /**
   * A cloud opened before this node saw that it is hosted (its hosted record applied after the
   * cloud itself) was opened as an owner's drive, which holds nothing of it and would answer 404
   * (and 405 to writes) for good: close that and open the hosted cloud it is.
   */
  reopenMisread (): void {
    for (const [cloudHex, replica] of this.replicas) {
      if (replica instanceof HostedCloud || this.queues.has(cloudHex) || this.opts.hostedBase(cloudHex) === null) continue
      this.enqueue(cloudHex, async () => {
        if (this.closed || this.replicas.get(cloudHex) !== replica) return
        this.opts.log.warn({ cloud: cloudText(cloudHex) }, 'a hosted cloud was open as an owner-held drive (its hosted record came later); reopening it as hosted')
        this.replicas.delete(cloudHex)
        this.lastSynced.delete(cloudHex)
        await replica.close()
        const hosted = this.replicaOf(cloudHex, true)
        this.replicas.set(cloudHex, hosted)
        try {
          await hosted.ready()
        } catch (err) {
          this.replicas.delete(cloudHex)
          await hosted.close().catch(() => {})
          throw err
        }
      })
    }
  }

  /**
   * Purges a cloud's local copy: leaves its topic, closes it and frees its blocks. A cloud not
   * open here (a copy from before a crash or restart) is opened just to be purged.
   */
  release (cloudHex: string): void {
    if (this.intents.get(cloudHex) === false || this.backingOff(cloudHex)) return
    this.intents.set(cloudHex, false)
    this.enqueue(cloudHex, async () => {
      if (this.closed) return
      const replica = this.replicas.get(cloudHex) ?? this.replicaOf(cloudHex, false)
      await replica.purge()
      this.purged.add(cloudHex)
      this.replicas.delete(cloudHex)
      this.lastSynced.delete(cloudHex)
      this.written.delete(cloudHex)
      this.opts.log.info({ cloud: cloudText(cloudHex) }, 'replica purged')
      this.compactor.run().catch((err) => this.opts.log.warn({ err }, 'storage compaction failed'))
    })
  }

  private backingOff (cloudHex: string): boolean {
    const failure = this.failed.get(cloudHex)
    return failure !== undefined && this.opts.clock.now() < failure.untilMs
  }

  private enqueue (cloudHex: string, task: () => Promise<void>): void {
    const previous = this.queues.get(cloudHex) ?? Promise.resolve()
    const next = previous.then(task).then(() => { this.failed.delete(cloudHex) }, (err) => {
      if (this.closed) return
      const waitMs = Math.min(RETRY_MAX_MS, (this.failed.get(cloudHex)?.waitMs ?? RETRY_FIRST_MS / 2) * 2)
      this.failed.set(cloudHex, { untilMs: this.opts.clock.now() + waitMs, waitMs })
      this.opts.log.error({ err, cloud: cloudText(cloudHex), retryInMs: waitMs }, 'cloud replica task failed')
    }).finally(() => {
      if (this.queues.get(cloudHex) !== next) return
      this.queues.delete(cloudHex)
      this.intents.delete(cloudHex)
      if (!this.closed) this.opts.onHoldingChange()
    })
    this.queues.set(cloudHex, next)
  }

  private onReplicaChange (cloudHex: string): void {
    if (this.closed) return
    const synced = this.synced(cloudHex) ?? false
    if (this.lastSynced.get(cloudHex) === synced) return
    this.lastSynced.set(cloudHex, synced)
    this.opts.onHoldingChange()
  }

  /** Progress records for clouds whose progress changed since this node last wrote one. */
  progressOps (nodeId: Buffer, nextLamport: () => number): CloudProgressOp[] {
    const ops: CloudProgressOp[] = []
    for (const [cloudHex, replica] of this.replicas) {
      if (replica.opened !== true || replica.closing !== null) continue
      const progress = pickProgress(replica.status())
      const fingerprint = Object.values(progress).join(',')
      if (this.written.get(cloudHex) === fingerprint) continue
      this.written.set(cloudHex, fingerprint)
      ops.push({ type: OpType.CLOUD_PROGRESS, lamport: nextLamport(), key: replica.key, nodeId, ...progress })
    }
    return ops
  }

  /** Closes every replica, keeping its data. Idempotent. */
  async close (): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.queues.values()])
    await Promise.allSettled([...this.replicas.values()].map((r) => r.close()))
    this.replicas.clear()
    await this.compactor.idle()
  }
}

function pickProgress (s: ReplicaStatus): SyncProgress {
  return { version: s.version, blocksHad: s.blocksHad, blocksTotal: s.blocksTotal, bytesHad: s.bytesHad, bytesTotal: s.bytesTotal, peers: s.peers }
}

/** A hex cloud key as logs and users spell it. */
function cloudText (cloudHex: string): string {
  return formatKey(Buffer.from(cloudHex, 'hex'))
}
