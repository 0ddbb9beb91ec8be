// One simulated node: the state a real node keeps in memory and on disk, and the real Reconciler
// and RouteFeedback. Its process can be absent (not joined yet), up, crashed or paused; its disk
// (the copies it holds) survives crashes, its memory does not.
import { LamportClock, type Clock, type Load } from '../protocol/index.js'
import { Reconciler, type LocalHoldings } from '../node/reconciler.js'
import { RouteFeedback } from '../node/route-feedback.js'
import type { Observer } from './view-group.js'

export type ProcessStatus = 'absent' | 'joining' | 'up' | 'crashed' | 'paused'

/** A cloud's data on this node's disk. */
export interface DiskCopy {
  sizeBytes: number
  haveBytes: number
  /** True once the copy was complete (a synced copy stays synced: clouds are not written to in the sim). */
  synced: boolean
}

export interface SyncJob {
  cloud: string
  source: SimNode
  startMs: number
  /** Bytes still to fetch when the job started. */
  bytes: number
  /** Distinguishes this job's completion event from a stale one. */
  token: number
}

export class SimNode implements LocalHoldings {
  status: ProcessStatus = 'absent'
  /** This node's clock minus true time. */
  skewMs = 0
  baseLoadPermille: number
  spikeLoadPermille: number | null = null
  heartbeatSeq = 0
  lamport = new LamportClock()
  reconciler: Reconciler
  feedback = new RouteFeedback()
  readonly disk = new Map<string, DiskCopy>()
  /** Clouds this process has open (or is opening); gone with the process. */
  readonly open = new Set<string>()
  readonly purging = new Set<string>()
  readonly releasedHere = new Set<string>()
  readonly syncQueue: string[] = []
  syncing: SyncJob | null = null
  drained = false
  observer!: Observer
  /** A node with a private observer goes back to its group's shared one at this time. */
  privateUntilMs: number | null = null
  /**
   * The targets this node last fully reconciled against (the placement's token, its reference's
   * token, and its own list, as positions and keys); only these are kept, so an old placement and
   * its holdings can be collected.
   */
  reconciledTargets: { token: object, reference: object, positions: Int32Array, mine: readonly string[] } | null = null
  /** Set when this node must reconcile every cloud: it (re)started, or resumed. */
  dirty = true
  /** Clouds whose reconcile inputs changed since: its copy of them, or their holdings in the view. */
  readonly dirtyClouds = new Set<string>()
  /**
   * The clouds this node holds (open, purging, or in the view) outside the target list `of`;
   * cleared when its copies or its hold records change. Spares re-reading every copy per tick.
   */
  heldOutside: { of: readonly string[], clouds: string[] } | null = null
  /** The target list `of` as a set, for membership tests while the list stays the same. */
  wanted: { of: readonly string[], set: ReadonlySet<string> } | null = null
  /** When the process last stopped answering (crash or pause), for the router checker. */
  unreachableSinceMs: number | null = null
  readonly clock: Clock
  readonly idHex: string

  constructor (
    readonly index: number,
    readonly id: Buffer,
    readonly writer: Buffer,
    readonly zone: string,
    readonly capacityBytes: number,
    baseLoadPermille: number,
    trueClock: Clock
  ) {
    this.idHex = id.toString('hex')
    this.baseLoadPermille = baseLoadPermille
    this.reconciler = this.newReconciler()
    this.clock = { now: () => trueClock.now() + this.skewMs }
  }

  get name (): string { return `n${this.index}` }
  get url (): string { return `http://${this.name}.sim` }
  get up (): boolean { return this.status === 'up' }

  load (): Load {
    const permille = this.spikeLoadPermille ?? this.baseLoadPermille
    return { cpuPermille: permille, memPermille: 300, eventLoopPermille: Math.floor(permille / 2), rssBytes: 200_000_000, memFreeBytes: 4_000_000_000, connections: 10 }
  }

  /** A process starting: memory is fresh, the disk is what it was. */
  restartProcess (): void {
    this.open.clear()
    this.purging.clear()
    this.releasedHere.clear()
    this.syncQueue.length = 0
    this.syncing = null
    this.lamport = new LamportClock()
    this.reconciler = this.newReconciler()
    this.feedback = new RouteFeedback()
    this.reconciledTargets = null
    this.dirty = true
    this.dirtyClouds.clear()
    this.heldOutside = null
    this.wanted = null
  }

  private newReconciler (): Reconciler {
    return new Reconciler({ selfHex: this.idHex, nextLamport: () => this.lamport.tick() })
  }

  // LocalHoldings, as CloudHost answers it.
  holds (cloud: string): boolean { return this.open.has(cloud) || this.purging.has(cloud) }
  released (cloud: string): boolean { return this.releasedHere.has(cloud) }
  synced (cloud: string): boolean | null { return this.open.has(cloud) ? this.disk.get(cloud)?.synced === true : null }
  heldClouds (): Iterable<string> { return [...this.open, ...this.purging] }

  /** True when this node can answer a request for `cloud` from its own complete copy. */
  serves (cloud: string): boolean {
    return this.up && this.open.has(cloud) && this.disk.get(cloud)?.synced === true
  }
}
