// One cloud held on this node: its drive opened read-only by key in its own corestore
// namespace, announced on its discovery topic, downloaded whole and followed as it grows.
// Requests are served from the newest version complete here: while a newer one downloads, they
// see the last complete one, whole, so an owner that vanishes mid-push leaves no torn files. That
// version is recorded in the drive's own storage, so a restart that finds a newer version half
// downloaded (a crash mid-sync, the owner gone) still serves it rather than nothing.
import Hyperdrive from 'hyperdrive'
import type { Hypercore } from 'corestore'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import ReadyResource from 'ready-resource'
import type { SyncProgress } from '../../protocol/index.js'

/** waiting: nothing known yet (nobody seeding); syncing: blocks missing; synced: has every known block. */
export type ReplicaState = 'waiting' | 'syncing' | 'synced'

export interface ReplicaStatus extends SyncProgress {
  state: ReplicaState
  /** True once this copy was complete at least once; stays true while it follows new versions. */
  synced: boolean
}

interface Download { destroy (): void }

/** User data on the drive's db core: the db length (drive version) last complete here. */
const COMPLETE_KEY = 'cloud-bevy/complete-length'
/** How long a checkout no longer served stays open for the requests still reading it. */
const RETIRE_AFTER_MS = 60_000

/** Core events that change a replica's progress or peers. */
const CHANGE_EVENTS = ['append', 'download', 'peer-add', 'peer-remove'] as const

export interface CloudReplicaOptions {
  /** A namespace of the node's store reserved for this cloud. */
  store: Corestore
  swarm: Hyperswarm
  key: Buffer
  /** Called (synchronously, often) whenever blocks arrive, the drive grows or peers change. */
  onChange: () => void
  /** Called with the size of every block downloaded, for the node's sync-bytes counter. */
  onDownload?: (bytes: number) => void
  /** False opens the local copy only (to purge what a crash left behind): no topic, no download. */
  follow?: boolean
}

export class CloudReplica extends ReadyResource {
  readonly key: Buffer
  /** The drive as it downloads and follows: every version known, complete or not. */
  private readonly live: Hyperdrive
  /** The db length (drive version) last complete here, in this run or an earlier one; 0 if none. */
  private lastComplete = 0
  /** A checkout of `lastComplete`, served while the live drive is incomplete; null otherwise. */
  private fallback: Hyperdrive | null = null
  /** The db length last recorded as complete (COMPLETE_KEY), so each is written once. */
  private recordedComplete = -1
  /** The write of that record, which close waits for. */
  private recording: Promise<void> = Promise.resolve()
  private readonly opts: CloudReplicaOptions
  private readonly downloads: Download[] = []
  private readonly listening: Array<{ core: Hypercore, off: () => void }> = []
  private everSynced = false
  /** Blob blocks the drive's entries need at one db length: the one check that sees through a blob core whose length is not known yet. */
  private blobsNeeded: { dbLength: number, blocks: number } | null = null
  private checking = -1

  constructor (opts: CloudReplicaOptions) {
    super()
    this.opts = opts
    this.key = opts.key
    this.live = new Hyperdrive(opts.store, opts.key)
  }

  /** The drive requests are served from: the live one when complete, else the last complete version. */
  get drive (): Hyperdrive {
    return this.fallback ?? this.live
  }

  protected override async _open (): Promise<void> {
    const { live: drive, opts } = this
    await drive.ready()
    if (drive.writable || opts.follow === false) return // an owner's own drive has nothing to fetch
    await this.recallComplete()
    this.follow(drive.core)
    if (drive.blobs !== null) this.follow(drive.blobs.core)
    else (drive as unknown as NodeJS.EventEmitter).once('blobs', () => { if (this.closing === null && drive.blobs !== null) this.follow(drive.blobs.core) })
    // Serve the topic too: other replicas and the owner find this copy through it.
    opts.swarm.join(drive.discoveryKey, { server: true, client: true })
    const done = drive.findingPeers()
    opts.swarm.flush().then(done, done)
    this.status() // a copy complete from an earlier run counts as synced at once
  }

  protected override async _close (): Promise<void> {
    for (const d of this.downloads) d.destroy()
    for (const l of this.listening) l.off()
    if (this.listening.length > 0) await this.opts.swarm.leave(this.live.discoveryKey).catch(() => {})
    await this.recording
    await this.live.close() // closes the fallback checkout too
  }

  /**
   * After a restart: the version an earlier run recorded as complete counts as synced (and is
   * served until the live drive is complete) if its db blocks and every blob block its entries use
   * are still here; a purge clears them.
   */
  private async recallComplete (): Promise<void> {
    const db = this.live.core
    const blobs = this.live.blobs?.core ?? null
    if (blobs === null) return
    const recorded = await db.getUserData(COMPLETE_KEY).catch(() => null)
    const length = recorded === null || recorded === undefined ? 0 : Number(recorded.toString())
    if (!(length > 0 && length <= db.contiguousLength)) return
    // The live drive is that version with nothing more known: status() finds it complete anyway.
    if (length === db.length && blobs.contiguousLength >= blobs.length) return
    if (await this.live.getBlobsLength(length) > blobs.contiguousLength) return
    this.lastComplete = length
    this.recordedComplete = length
    this.everSynced = true
  }

  /** Serves `lastComplete` from a checkout while the live drive is incomplete, the live drive once it is. */
  private serveComplete (liveComplete: boolean): void {
    const wanted = liveComplete ? 0 : this.lastComplete
    if ((this.fallback?.version ?? 0) === wanted) return
    const retired = this.fallback
    this.fallback = wanted === 0 ? null : this.live.checkout(wanted)
    // Requests under way may still read the old checkout; the live drive closes it at the latest.
    if (retired !== null) setTimeout(() => { retired.close().catch(() => {}) }, RETIRE_AFTER_MS).unref()
  }

  /** Records `length` as complete in the drive's storage, once per length. */
  private recordComplete (length: number): void {
    if (this.recordedComplete === length || this.closing !== null) return
    this.recordedComplete = length
    this.recording = this.recording
      .then(() => this.live.core.setUserData(COMPLETE_KEY, Buffer.from(String(length))))
      .catch(() => { this.recordedComplete = -1 })
  }

  /** Downloads every block of `core`, now and as it grows, and reports each change. */
  private follow (core: Hypercore): void {
    const changed = (): void => { this.opts.onChange() }
    const onDownload = this.opts.onDownload
    const counted = onDownload === undefined ? null : (_index: number, bytes: number): void => onDownload(bytes)
    for (const event of CHANGE_EVENTS) core.on(event, changed)
    if (counted !== null) core.on('download', counted)
    this.listening.push({
      core,
      off: () => {
        for (const event of CHANGE_EVENTS) core.off(event, changed)
        if (counted !== null) core.off('download', counted)
      }
    })
    this.downloads.push(core.download({ start: 0, end: -1 }))
    changed()
  }

  /** The sticky synced flag alone, as of the last status(); cheap enough for every request. */
  get synced (): boolean {
    return this.everSynced
  }

  status (): ReplicaStatus {
    const db = this.live.core
    const blobs = this.live.blobs?.core ?? null
    const blocksHad = db.contiguousLength + (blobs?.contiguousLength ?? 0)
    const blocksTotal = db.length + (blobs?.length ?? 0)
    // Every known block is here; but a blob core just opened may not know its length yet, so
    // also check the entries' blob references once per db length before calling it complete.
    const looksComplete = db.length > 0 && blobs !== null && blocksHad === blocksTotal
    const needed = this.blobsNeeded?.dbLength === db.length ? this.blobsNeeded.blocks : null
    if (looksComplete && needed === null) this.checkBlobsNeeded(db.length)
    const complete = looksComplete && needed !== null && (blobs?.contiguousLength ?? 0) >= needed
    if (complete) {
      this.everSynced = true
      this.lastComplete = db.length
      this.recordComplete(db.length)
    }
    if (this.closing === null) this.serveComplete(complete)
    const state: ReplicaState = complete ? 'synced' : db.length === 0 ? 'waiting' : 'syncing'
    return {
      state,
      synced: this.everSynced,
      version: this.live.version,
      blocksHad,
      blocksTotal,
      bytesHad: bytesHad(db) + (blobs === null ? 0 : bytesHad(blobs)),
      bytesTotal: db.byteLength + (blobs?.byteLength ?? 0),
      peers: db.peers.length
    }
  }

  /** Finds the blob blocks the entries at `dbLength` reference (a scan of the local db), then reports a change. */
  private checkBlobsNeeded (dbLength: number): void {
    if (this.checking === dbLength || this.closing !== null) return
    this.checking = dbLength
    this.live.getBlobsLength(dbLength).then((blocks) => {
      this.blobsNeeded = { dbLength, blocks }
      this.opts.onChange()
    }, () => {}).finally(() => { if (this.checking === dbLength) this.checking = -1 })
  }

  /** Drops every downloaded block so the disk comes back, then closes. */
  async purge (): Promise<void> {
    await this.ready().catch(() => {})
    for (const d of this.downloads) d.destroy()
    this.downloads.length = 0
    const cores = [this.live.blobs?.core, this.live.core].filter((c): c is Hypercore => c !== undefined && c !== null && !c.closed)
    for (const core of cores) if (core.length > 0) await core.clear(0, core.length)
    await this.close()
  }
}

/**
 * Bytes of a core held locally. Exact when the core is complete; otherwise estimated from the
 * share of blocks held, since this hypercore reports no contiguous byte length (it returns 0).
 */
function bytesHad (core: Hypercore): number {
  if (core.length === 0) return 0
  if (core.contiguousLength >= core.length) return core.byteLength
  return Math.floor(core.byteLength * core.contiguousLength / core.length)
}
