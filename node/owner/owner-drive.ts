// The owner's side of a cloud: a writable Hyperdrive kept in the owner's own storage, filled by
// mirroring a local folder, and seeded on its discovery topic until the bevy has copied it.
import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import Localdrive from 'localdrive'
import ReadyResource from 'ready-resource'
import type { BootstrapNode } from '../config.js'

export interface MirrorSummary { added: number, changed: number, removed: number, files: number, bytesAdded: number, bytesRemoved: number }

export interface OwnerDriveOptions {
  /** The owner's storage: the drive's blocks and keys live here. */
  storage: string
  /** The folder this drive mirrors; one drive per folder, the same one on every run. */
  folder: string
  bootstrap: BootstrapNode[] | null
}

export class OwnerDrive extends ReadyResource {
  readonly folder: string
  private store: Corestore | null = null
  private swarm: Hyperswarm | null = null
  private driveOrNull: Hyperdrive | null = null

  constructor (private readonly opts: OwnerDriveOptions) {
    super()
    this.folder = resolve(opts.folder)
  }

  get drive (): Hyperdrive {
    if (this.driveOrNull === null) throw new Error('owner drive is not open')
    return this.driveOrNull
  }

  protected override async _open (): Promise<void> {
    await mkdir(this.opts.storage, { recursive: true, mode: 0o700 })
    this.store = new Corestore(this.opts.storage)
    // The namespace is derived from the folder, so the same folder always gets the same drive.
    const name = 'push/' + createHash('sha256').update(this.folder).digest('hex')
    this.driveOrNull = new Hyperdrive(this.store.namespace(name))
    await this.driveOrNull.ready()
  }

  protected override async _close (): Promise<void> {
    if (this.swarm !== null) await this.swarm.destroy()
    if (this.driveOrNull !== null) await this.driveOrNull.close()
    if (this.store !== null) await this.store.close()
  }

  /** Makes the drive hold exactly the folder's files: adds, changes and deletions. */
  async mirror (): Promise<MirrorSummary> {
    const local = new Localdrive(this.folder)
    try {
      const mirror = local.mirror(this.drive, { prune: true })
      await mirror.done()
      return {
        added: mirror.count.add,
        changed: mirror.count.change,
        removed: mirror.count.remove,
        files: mirror.count.files,
        bytesAdded: mirror.bytesAdded,
        bytesRemoved: mirror.bytesRemoved
      }
    } finally {
      await local.close()
    }
  }

  /** Announces the drive on its topic and serves it to whoever connects (replicas, readers). */
  async seed (): Promise<void> {
    if (this.swarm !== null || this.store === null) return
    const store = this.store
    this.swarm = new Hyperswarm(this.opts.bootstrap === null ? {} : { bootstrap: this.opts.bootstrap })
    this.swarm.on('connection', (conn: SwarmConnection) => {
      conn.on('error', () => {}) // a peer going away mid-stream is normal
      store.replicate(conn)
    })
    // Both roles: replicas announce the topic too, and they looked it up long before this run,
    // so the owner must look them up itself to reach them with a new version.
    await this.swarm.join(this.drive.discoveryKey, { server: true, client: true }).flushed()
  }

  /** Peers currently replicating the drive. */
  get peers (): number {
    return this.drive.core.peers.length
  }
}
