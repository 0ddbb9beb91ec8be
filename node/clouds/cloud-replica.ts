// One cloud held on this node: its drive opened read-only by key in its own corestore
// namespace, announced on its discovery topic, downloaded whole and followed as it grows.
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
  readonly drive: Hyperdrive
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
    this.drive = new Hyperdrive(opts.store, opts.key)
  }

  protected override async _open (): Promise<void> {
    const { drive, opts } = this
    await drive.ready()
    if (drive.writable || opts.follow === false) return // an owner's own drive has nothing to fetch
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
    if (this.listening.length > 0) await this.opts.swarm.leave(this.drive.discoveryKey).catch(() => {})
    await this.drive.close()
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
    const db = this.drive.core
    const blobs = this.drive.blobs?.core ?? null
    const blocksHad = db.contiguousLength + (blobs?.contiguousLength ?? 0)
    const blocksTotal = db.length + (blobs?.length ?? 0)
    // Every known block is here; but a blob core just opened may not know its length yet, so
    // also check the entries' blob references once per db length before calling it complete.
    const looksComplete = db.length > 0 && blobs !== null && blocksHad === blocksTotal
    const needed = this.blobsNeeded?.dbLength === db.length ? this.blobsNeeded.blocks : null
    if (looksComplete && needed === null) this.checkBlobsNeeded(db.length)
    const complete = looksComplete && needed !== null && (blobs?.contiguousLength ?? 0) >= needed
    if (complete) this.everSynced = true
    const state: ReplicaState = complete ? 'synced' : db.length === 0 ? 'waiting' : 'syncing'
    return {
      state,
      synced: this.everSynced,
      version: this.drive.version,
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
    this.drive.getBlobsLength(dbLength).then((blocks) => {
      this.blobsNeeded = { dbLength, blocks }
      this.opts.onChange()
    }, () => {}).finally(() => { if (this.checking === dbLength) this.checking = -1 })
  }

  /** Drops every downloaded block so the disk comes back, then closes. */
  async purge (): Promise<void> {
    await this.ready().catch(() => {})
    for (const d of this.downloads) d.destroy()
    this.downloads.length = 0
    const cores = [this.drive.blobs?.core, this.drive.core].filter((c): c is Hypercore => c !== undefined && c !== null && !c.closed)
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
