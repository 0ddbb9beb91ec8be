// A hosted cloud's file index seen as a read-only drive, so the router serves it exactly as it
// serves an owner's Hyperdrive: entries, directory listings, versions (checkouts of the index)
// and blobs, which here live in the blob core of whichever writer wrote the file.
import type Hyperbee from 'hyperbee'
import type Hyperblobs from 'hyperblobs'
import type { BlobId, DriveEntry } from 'hyperdrive'
import type { Readable } from 'node:stream'
import { decodeRecord, fileRecordCodec, formatKey, HostedKey, parseWriteId, writeId, type FileRecord } from '../../protocol/index.js'
import type { PathWrite } from '../../router/drive-response.js'

/** A blob reference that also names its core. */
export interface HostedBlobId extends BlobId { core: Buffer }

export class HostedDrive {
  constructor (
    protected readonly bee: Hyperbee,
    protected readonly blobsOf: (core: Buffer) => Hyperblobs,
    protected readonly cloudHex: string,
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
    return HostedDrive.entryOf(path, node.seq, decodeRecord(fileRecordCodec, node.value))
  }

  async getBlobs (): Promise<{ get: (id: BlobId, opts?: { timeout?: number }) => Promise<Buffer | null>, createReadStream: (id: BlobId, opts?: { start?: number, length?: number, wait?: boolean }) => Readable }> {
    return {
      get: (id, opts) => this.blobsOf((id as HostedBlobId).core).get(id, opts),
      createReadStream: (id, opts) => this.blobsOf((id as HostedBlobId).core).createReadStream(id, opts)
    }
  }

  /** Every write of `path` the index holds, oldest first, with the one the path shows now marked current. */
  async writes (path: string): Promise<PathWrite[]> {
    const now = await this.bee.get(path)
    const current = now === null ? null : decodeRecord(fileRecordCodec, now.value)
    const out: PathWrite[] = []
    for await (const { value } of this.bee.createReadStream({ gte: HostedKey.writesOf(path), lt: HostedKey.writesEnd(path) })) {
      const w = decodeRecord(fileRecordCodec, value)
      out.push({
        id: writeId(w.clock, w.writer),
        clock: w.clock,
        writer: formatKey(w.writer),
        deleted: w.deleted,
        size: w.byteLength,
        sha256: w.deleted ? '' : w.sha256.toString('hex'),
        mtimeMs: w.mtimeMs,
        current: current !== null && current.clock === w.clock && current.writer.equals(w.writer)
      })
    }
    return out
  }

  /** A drive whose `path` is as write `id` left it (other paths as now); null for an unknown write. */
  async atWrite (path: string, id: string): Promise<HostedDrive | null> {
    const parsed = parseWriteId(id)
    if (parsed === null) return null
    const node = await this.bee.get(HostedKey.write(path, parsed.clock, parsed.writer))
    if (node === null) return null
    return new WriteView(this.bee, this.blobsOf, this.cloudHex, { path, id, seq: node.seq, file: decodeRecord(fileRecordCodec, node.value) })
  }

  /** The entry a file record makes, for serving. */
  static entryOf (path: string, seq: number, file: FileRecord): DriveEntry | null {
    if (file.deleted) return null
    const blob: HostedBlobId = { core: file.blobCore, blockOffset: file.blockOffset, blockLength: file.blockLength, byteOffset: file.byteOffset, byteLength: file.byteLength }
    return { seq, key: path, value: { executable: false, linkname: null, blob, metadata: null } }
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

/** One write of one path, served like a drive: the file as that write left it. */
class WriteView extends HostedDrive {
  constructor (bee: Hyperbee, blobsOf: (core: Buffer) => Hyperblobs, cloudHex: string, private readonly write: { path: string, id: string, seq: number, file: FileRecord }) {
    super(bee, blobsOf, cloudHex)
  }

  override get cacheId (): string {
    return `${super.cacheId}:write:${this.write.id}`
  }

  override async entry (path: string): Promise<DriveEntry | null> {
    return path === this.write.path ? HostedDrive.entryOf(path, this.write.seq, this.write.file) : null
  }
}
