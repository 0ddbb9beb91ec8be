// A hosted cloud's file index seen as a read-only drive, so the router serves it exactly as it
// serves an owner's Hyperdrive: entries, directory listings, versions (checkouts of the index)
// and blobs, which here live in the blob core of whichever writer wrote the file.
import type Hyperbee from 'hyperbee'
import type Hyperblobs from 'hyperblobs'
import type { BlobId, DriveEntry } from 'hyperdrive'
import type { Readable } from 'node:stream'
import { decodeRecord, fileRecordCodec } from '../../protocol/index.js'

/** A blob reference that also names its core. */
export interface HostedBlobId extends BlobId { core: Buffer }

export class HostedDrive {
  constructor (
    private readonly bee: Hyperbee,
    private readonly blobsOf: (core: Buffer) => Hyperblobs,
    private readonly cloudHex: string,
    /** True for a checkout this object opened, which close() must close. */
    private readonly owned = false
  ) {}

  get version (): number {
    return this.bee.version
  }

  /**
   * Names this index's content for caches: a reordering of the cloud's writes truncates the
   * view and bumps its fork, after which a version number may mean other bytes.
   */
  get cacheId (): string {
    return `${this.cloudHex}:${this.bee.core.key.toString('hex')}:${this.bee.core.fork}`
  }

  checkout (version: number): HostedDrive {
    return new HostedDrive(this.bee.checkout(version), this.blobsOf, this.cloudHex, true)
  }

  async close (): Promise<void> {
    if (this.owned) await this.bee.close()
  }

  async entry (path: string, _opts?: { timeout?: number }): Promise<DriveEntry | null> {
    const node = await this.bee.get(path)
    if (node === null || !node.key.startsWith('/')) return null
    const file = decodeRecord(fileRecordCodec, node.value)
    if (file.deleted) return null
    const blob: HostedBlobId = { core: file.blobCore, blockOffset: file.blockOffset, blockLength: file.blockLength, byteOffset: file.byteOffset, byteLength: file.byteLength }
    return { seq: node.seq, key: path, value: { executable: false, linkname: null, blob, metadata: null } }
  }

  async getBlobs (): Promise<{ get: (id: BlobId, opts?: { timeout?: number }) => Promise<Buffer | null>, createReadStream: (id: BlobId, opts?: { start?: number, length?: number, wait?: boolean }) => Readable }> {
    return {
      get: (id, opts) => this.blobsOf((id as HostedBlobId).core).get(id, opts),
      createReadStream: (id, opts) => this.blobsOf((id as HostedBlobId).core).createReadStream(id, opts)
    }
  }

  /** The names directly under `dir` (files and folders) that hold at least one live file. */
  async * readdir (dir: string, _opts?: { wait?: boolean }): AsyncIterable<string> {
    const prefix = dir.endsWith('/') ? dir : dir + '/'
    if (!prefix.startsWith('/')) return
    let last: string | null = null
    const end = prefix.slice(0, -1) + '0' // the character after '/'
    for await (const { key, value } of this.bee.createReadStream({ gte: prefix, lt: end })) {
      const name = key.slice(prefix.length).split('/')[0] as string
      if (name === last || name === '') continue
      if (decodeRecord(fileRecordCodec, value).deleted) continue
      last = name
      yield name
    }
  }
}
