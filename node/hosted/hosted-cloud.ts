// One hosted cloud held on this node: the cloud's own Autobase (its view the file index, see
// hosted-apply.ts) and this node's Hyperblobs, where the bytes of the files written here go.
// Every replica is a writer, so a write lands at whichever replica a client reaches; a write is
// acknowledged only once another copy of it exists, so losing this node loses no acknowledged
// write. The blob cores of every writer are downloaded whole, so any replica serves any file.
import type ProtomuxWakeup from 'protomux-wakeup'
import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import Autobase from 'autobase'
import Hyperbee from 'hyperbee'
import Hyperblobs from 'hyperblobs'
import type Corestore from 'corestore'
import type { Hypercore } from 'corestore'
import type Hyperswarm from 'hyperswarm'
import ReadyResource from 'ready-resource'
import {
  BevyError, decodeRecord, encodeHostedOp, ErrorCode, fileRecordCodec, HostedKey, HostedOpType, hostedWriterRecordCodec,
  normalHostedPath, type SyncProgress
} from '../../protocol/index.js'
import type { Logger } from '../log.js'
import { writerHost } from '../cluster-base.js'
import { BeeViewStore } from '../view/bee-store.js'
import { applyHostedNodes, isLiveWriterRecord } from './hosted-apply.js'
import { HostedDrive } from './hosted-drive.js'
import { whenWritable } from '../writable.js'
import type { ReplicaStatus } from '../clouds/cloud-replica.js'

export interface HostedCloudOptions {
  /** A namespace of the node's store reserved for this cloud. */
  store: Corestore
  swarm: Hyperswarm
  /** The process's wakeup protocol: how peers hint which writers have news (see Bevy's wakeup). */
  wakeup: ProtomuxWakeup
  /** The cloud key (what placement and clients name it by). */
  key: Buffer
  /** The cloud's Autobase key. */
  base: Buffer
  log: Logger
  /** Called (often) whenever blocks arrive, the index grows or writers change. */
  onChange: () => void
  /** Called when this node becomes a writer of the cloud (it may have writers to admit). */
  onWritable?: () => void
  onDownload?: (bytes: number) => void
  /** False opens the local copy only (to purge it): no topic, no download. */
  follow?: boolean
  /** Recompute the log's unindexed tip on open, after a crash (see ClusterBaseOptions.recomputeTip). */
  recomputeTip?: boolean
}

export interface WriteLimits {
  maxBytes: number
  /** A signed write's declared body hash: the write is refused (nothing indexed) unless the body has it. */
  expectSha256?: Buffer | null
  /** How long a write waits for this replica, a writer before, to be one again (see writableGraceMs). */
  writableGraceMs: number
  /** How long a write waits for a second copy before it is reported unconfirmed. */
  ackTimeoutMs: number
  nowMs: number
}

export interface WriteResult { path: string, size: number, sha256: string, version: number }

/** A replica writer the placement wants: the writer key a node announced for this cloud. */
/** How long a copy waits for peers to say how far each writer got, when it opens and before it removes a writer. */
export const CATCH_UP_ON_OPEN_MS = 5000

export interface WantedWriter { key: Buffer, nodeId: Buffer }
/** What the cluster view asks of a hosted cloud's writers (see HostedService.upkeep). */
export interface WriterPolicy {
  /** Replica writers placement wants, with their nodes. */
  replicas: WantedWriter[]
  /** Owner devices (hex writer keys) an operator authorized. */
  devices: Set<string>
  /** The node behind a writer key the index records no node for (the bootstrap writer). */
  nodeOfWriter: (writerHex: string) => string | null
  /** False to remove the replica writer of a node (hex id) placement does not want. */
  keepNode: (nodeHex: string) => boolean
  /** Whether to admit again a wanted replica writer that some writer removed before. */
  readmit: (wanted: WantedWriter) => boolean
  /** Whether to admit again an authorized device (hex writer key) that some writer removed before. */
  readmitDevice: (deviceHex: string) => boolean
}
/** What one writer upkeep pass changed: who it admitted and who it removed ("node <hex>" or "device <hex>"). */
export interface WriterChanges { added: string[], removed: string[] }

interface FollowedCore { core: Hypercore, download: { destroy (): void }, off: () => void }

const CHANGE_EVENTS = ['append', 'download', 'peer-add', 'peer-remove'] as const
const ZERO_KEY = Buffer.alloc(32)
/** The end of the writer records' key range. */
const WRITERS_END = '!w0'

export class HostedCloud extends ReadyResource {
  readonly key: Buffer
  readonly base: Autobase<Hyperbee>
  private readonly opts: HostedCloudOptions
  private readonly localBlobs: Hyperblobs
  /** Blob cores of other writers, by hex key, downloaded whole as they grow. */
  private readonly followed = new Map<string, FollowedCore>()
  /** Per blob core (hex), the blocks the index references: a complete copy holds them all. */
  private readonly required = new Map<string, number>()
  private readonly viewDownloads: Array<{ destroy (): void }> = []
  /** A scan of the index after a fast-forward, under way; the copy is not complete before it ends. */
  private recalling: Promise<void> | null = null
  private clock = 0
  private everSynced = false
  /** Set once this copy has been a writer: from then on a lapse is a reboot of the view, not a missing admission. */
  private wasWritable = false
  private joined = false
  /**
   * Settles once a copy opened to follow the cloud has caught up with its peers. Until then it
   * neither counts as complete nor acts as a writer: a copy reopened after a while away still
   * believes in the writers it knew, and a writer op from there (a removal, say) would sort
   * before what the others wrote meanwhile and drop a removed writer's acknowledged writes.
   */
  private caughtUp: Promise<void> | null = null
  private current = false
  /** Ends every catch-up wait at once: called when the copy closes. */
  private readonly stopWaits = new Set<() => void>()

  /** Creates a new hosted cloud's Autobase in `store` (a fresh namespace) and returns its key. */
  static async create (store: Corestore): Promise<Buffer> {
    const base = new Autobase(store, null, { open: (s) => s.get('view'), apply: async () => {} })
    await base.ready()
    const key = base.key
    await base.close()
    return key
  }

  constructor (opts: HostedCloudOptions) {
    super()
    this.opts = opts
    this.key = opts.key
    const bootstrap = opts.base
    this.base = new Autobase<Hyperbee>(opts.store, opts.base, {
      open: (store) => new Hyperbee(store.get('view'), { keyEncoding: 'utf-8', valueEncoding: 'binary', extension: false }),
      apply: async (nodes, view, host) => applyHostedNodes(nodes, new BeeViewStore(view), writerHost(host), {
        bootstrapKey: () => bootstrap,
        onClock: (clock) => { if (clock > this.clock) this.clock = clock },
        onBlob: (core, end) => this.requireBlocks(core, end),
        onSkip: (reason, from) => this.opts.log.debug({ reason, from: from.toString('hex') }, 'hosted op skipped')
      }),
      close: async (view) => view.close(),
      wakeup: opts.wakeup,
      nukeTip: opts.recomputeTip === true
    })
    this.base.on('error', (err: Error) => this.opts.log.warn({ err }, 'hosted cloud log error'))
    // A new replica of a long-lived cloud may fast-forward: its index is then sparse, and every
    // read of it would wait on peers. Fetch it whole, as the cluster log does with its view.
    // Apply does not run over a fast-forwarded stretch either, so the blocks it references are
    // learned from the index itself; until then this copy does not count as complete.
    this.base.on('fast-forward', () => {
      if (this.closing !== null) return
      this.viewDownloads.push(this.base.view.core.download({ start: 0, end: -1 }))
      const recalling = this.recall().catch((err) => this.opts.log.warn({ err }, 'reading a fast-forwarded index failed')).finally(() => {
        if (this.recalling === recalling) this.recalling = null
        this.opts.onChange()
      })
      this.recalling = recalling
    })
    this.localBlobs = new Hyperblobs(opts.store.get({ name: 'blobs' }))
  }

  protected override async _open (): Promise<void> {
    await this.base.ready()
    await this.localBlobs.ready()
    if (this.base.writable) this.wasWritable = true
    this.base.on('writable', () => { this.wasWritable = true })
    await this.recall()
    if (this.opts.follow === false) return
    this.base.on('update', () => this.opts.onChange())
    this.base.on('writable', () => { this.opts.onChange(); this.opts.onWritable?.() })
    this.watch(this.localBlobs.core, false)
    this.opts.swarm.join(this.base.discoveryKey, { server: true, client: true })
    this.joined = true
    this.caughtUp = this.catchUp(CATCH_UP_ON_OPEN_MS).catch((err) => {
      if (this.closing === null) this.opts.log.warn({ err }, 'catching up a hosted cloud on open failed')
    }).finally(() => {
      this.current = true
      if (this.closing === null) this.opts.onChange()
    })
    this.status()
  }

  protected override async _close (): Promise<void> {
    for (const stop of this.stopWaits) stop()
    await this.caughtUp // its cores must close before the store does
    for (const d of this.viewDownloads) d.destroy() // a scan still reading the index fails with the close, and is caught
    for (const f of this.followed.values()) { f.download.destroy(); f.off() }
    if (this.joined) await this.opts.swarm.leave(this.base.discoveryKey).catch(() => {})
    await this.base.close()
    await this.localBlobs.close()
    // Readers opened on demand hold core sessions of their own.
    await Promise.allSettled([...this.blobReaders.values()].map((b) => b.close()))
    await Promise.allSettled([...this.followed.values()].map((f) => f.core.close()))
    this.blobReaders.clear()
    this.followed.clear()
  }

  /** The index is persisted, apply is not re-run: rebuild the clock and the blocks needed from it. */
  private async recall (): Promise<void> {
    for await (const { value } of this.base.view.createReadStream({ gte: HostedKey.filesStart, lt: HostedKey.filesEnd })) {
      const file = decodeRecord(fileRecordCodec, value)
      if (file.clock > this.clock) this.clock = file.clock
      if (!file.deleted) this.requireBlocks(file.blobCore, file.blockOffset + file.blockLength)
    }
  }

  /** Notes blocks the index references, and starts downloading their core if it is new. */
  private requireBlocks (core: Buffer, end: number): void {
    const hex = core.toString('hex')
    if ((this.required.get(hex) ?? 0) < end) this.required.set(hex, end)
    if (this.followed.has(hex) || core.equals(this.localBlobs.core.key) || this.closing !== null || this.opts.follow === false) return
    const followed = this.opts.store.get({ key: core })
    this.watch(followed, true)
  }

  /** Reports every change of `core`; downloads all of it, now and as it grows, unless it is our own. */
  private watch (core: Hypercore, download: boolean): void {
    const changed = (): void => { this.opts.onChange() }
    const counted = (_index: number, bytes: number): void => { this.opts.onDownload?.(bytes) }
    for (const event of CHANGE_EVENTS) core.on(event, changed)
    core.on('download', counted)
    const off = (): void => {
      for (const event of CHANGE_EVENTS) core.off(event, changed)
      core.off('download', counted)
    }
    if (!download) return
    this.followed.set(core.key.toString('hex'), { core, download: core.download({ start: 0, end: -1 }), off })
  }

  get writable (): boolean { return this.base.writable }
  /** This node's writer key for the cloud: what it announces so a replica writer admits it. */
  get writerKey (): Buffer { return this.base.local.key }
  get synced (): boolean { return this.everSynced }

  /** The file index as a drive to serve reads from. */
  get drive (): HostedDrive {
    return new HostedDrive(this.base.view, (core) => this.blobsOf(core), this.key.toString('hex'))
  }

  private readonly blobReaders = new Map<string, Hyperblobs>()

  /** A reader for one writer's blob core (ours, one followed, or one opened on demand). */
  private blobsOf (core: Buffer): Hyperblobs {
    if (core.equals(this.localBlobs.core.key)) return this.localBlobs
    const hex = core.toString('hex')
    let blobs = this.blobReaders.get(hex)
    if (blobs === undefined) {
      blobs = new Hyperblobs(this.followed.get(hex)?.core ?? this.opts.store.get({ key: core }))
      this.blobReaders.set(hex, blobs)
    }
    return blobs
  }

  /** Complete: a writer whose copy holds every block the index references. */
  status (): ReplicaStatus {
    let had = 0
    let total = 0
    let bytesHad = 0
    let bytesTotal = 0
    let complete = this.base.writable && this.current && this.recalling === null
    for (const [hex, end] of this.required) {
      const core = hex === this.localBlobs.core.key.toString('hex') ? this.localBlobs.core : this.followed.get(hex)?.core
      const contiguous = core?.contiguousLength ?? 0
      if (contiguous < end) complete = false
      had += Math.min(contiguous, end)
      total += end
      bytesTotal += core?.byteLength ?? 0
      bytesHad += core === undefined ? 0 : core.length === 0 ? 0 : Math.floor(core.byteLength * Math.min(1, contiguous / core.length))
    }
    if (complete) this.everSynced = true
    const peers = this.base.local.peers.length
    return {
      state: complete ? 'synced' : 'syncing',
      synced: this.everSynced,
      version: this.base.view.version,
      blocksHad: had,
      blocksTotal: total,
      bytesHad,
      bytesTotal,
      peers
    }
  }

  /** Writes a file from a stream: its bytes to our blob core, then the index op; resolves once another copy holds both. */
  async put (path: string, body: Readable, limits: WriteLimits): Promise<WriteResult> {
    const normal = await this.writablePath(path, limits.writableGraceMs)
    const hash = createHash('sha256')
    let size = 0
    const meter = new Transform({
      transform (chunk: Buffer, _enc, done) {
        size += chunk.byteLength
        if (size > limits.maxBytes) return done(new BevyError(ErrorCode.BODY_TOO_LARGE, `a file may be at most ${limits.maxBytes} bytes`))
        hash.update(chunk)
        done(null, chunk)
      }
    })
    const sink = this.localBlobs.createWriteStream()
    await pipeline(body, meter, sink)
    const id = sink.id
    const sha256 = hash.digest()
    // The bytes sit in our blob core unreferenced; without an index entry nobody fetches or serves them.
    if (limits.expectSha256 != null && !sha256.equals(limits.expectSha256)) throw new BevyError(ErrorCode.BAD_SIGNATURE, 'the body does not have the SHA-256 the device signed')
    await this.append({ type: HostedOpType.PUT, clock: ++this.clock, path: normal, blobCore: this.localBlobs.core.key, ...id, mtimeMs: limits.nowMs, sha256 })
    await this.confirmed(id.blockOffset + id.blockLength, limits.ackTimeoutMs)
    return { path: normal, size, sha256: sha256.toString('hex'), version: this.base.view.version }
  }

  /** Deletes a file (a tombstone); FILE_NOT_FOUND when the index has no such file. */
  async delete (path: string, limits: Pick<WriteLimits, 'ackTimeoutMs' | 'writableGraceMs'>): Promise<{ version: number }> {
    const normal = await this.writablePath(path, limits.writableGraceMs)
    const existing = await this.base.view.get(normal)
    if (existing === null || decodeRecord(fileRecordCodec, existing.value).deleted) throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'no such file in this cloud')
    await this.append({ type: HostedOpType.DELETE, clock: ++this.clock, path: normal })
    await this.confirmed(-1, limits.ackTimeoutMs)
    return { version: this.base.view.version }
  }

  private async writablePath (path: string, graceMs: number): Promise<string> {
    const normal = normalHostedPath(path)
    if (normal === null) throw new BevyError(ErrorCode.BAD_PATH, 'a file path must be /-led, without empty, "." or ".." segments, and not end in /')
    await this.caughtUp
    // Autobase drops the local writer for a moment while it reboots the view (a writer of the
    // cloud came or went): a copy that was a writer waits that out instead of failing the write.
    if (!this.base.writable && !(this.wasWritable && await whenWritable(this.base as Autobase<unknown>, graceMs))) {
      throw new BevyError(ErrorCode.NOT_WRITABLE, 'this replica is not (yet) a writer of the cloud')
    }
    return normal
  }

  /** True once this copy has been a writer of the cloud (it may be in a brief lapse now). */
  get wasWriter (): boolean {
    return this.wasWritable
  }

  private async append (op: Parameters<typeof encodeHostedOp>[0]): Promise<void> {
    if (this.closing !== null) throw new BevyError(ErrorCode.CLOSED, 'cloud is closing')
    if (!this.base.writable) throw new BevyError(ErrorCode.NOT_WRITABLE, 'this replica is not (yet) a writer of the cloud')
    await this.base.append(encodeHostedOp(op))
  }

  /**
   * Resolves once a peer holds this node's log up to its last op and our blob core up to
   * `blobEnd`: then no single crash loses the write. Alone (no other writer), at once.
   */
  private async confirmed (blobEnd: number, timeoutMs: number): Promise<void> {
    if (await this.otherReplicaWriters() === 0) return
    const local = this.base.local
    const length = local.length
    const blobs = this.localBlobs.core
    const held = (): boolean => local.peers.some((p) => p.remoteContiguousLength >= length) &&
      (blobEnd <= 0 || blobs.peers.some((p) => p.remoteContiguousLength >= blobEnd))
    if (held()) return
    await new Promise<void>((resolve, reject) => {
      const check = (): void => { if (held()) finish(null) }
      const finish = (err: Error | null): void => {
        clearTimeout(timer)
        clearInterval(poll)
        for (const core of [local, blobs]) for (const event of ['upload', 'peer-add'] as const) core.off(event, check)
        if (err === null) resolve()
        else reject(err)
      }
      // Peers report what they hold as they download; 'upload' is when our side sent it.
      for (const core of [local, blobs]) for (const event of ['upload', 'peer-add'] as const) core.on(event, check)
      const poll = setInterval(check, 20)
      const timer = setTimeout(() => finish(new BevyError(ErrorCode.WRITE_NOT_CONFIRMED, `no second copy of the write within ${timeoutMs} ms; it may still replicate`)), timeoutMs)
    })
  }

  /** Live replica writers other than this node (devices do not count as copies the bevy keeps). */
  private async otherReplicaWriters (): Promise<number> {
    const self = this.base.local.key.toString('hex')
    let n = 0
    for (const [hex, writer] of await this.writers()) if (hex !== self && !writer.device) n++
    return n
  }

  /** Live writers of this cloud as its index has them, by hex key; the bootstrap writer's node is not recorded. */
  async writers (): Promise<Map<string, { device: boolean, nodeId: Buffer | null }>> {
    return (await this.writerIndex()).live
  }

  /** The live writers, and the keys of writers removed (and not admitted again) since. */
  private async writerIndex (): Promise<{ live: Map<string, { device: boolean, nodeId: Buffer | null }>, removed: Set<string> }> {
    const live = new Map<string, { device: boolean, nodeId: Buffer | null }>([[this.opts.base.toString('hex'), { device: false, nodeId: null }]])
    const removed = new Set<string>()
    for await (const { key, value } of this.base.view.createReadStream({ gte: HostedKey.writerPrefix, lt: WRITERS_END })) {
      const hex = key.slice(HostedKey.writerPrefix.length)
      if (!isLiveWriterRecord(value)) { live.delete(hex); removed.add(hex); continue }
      const record = decodeRecord(hostedWriterRecordCodec, value)
      live.set(hex, { device: record.device, nodeId: record.device ? null : record.nodeId })
    }
    return { live, removed }
  }

  /**
   * Brings the cloud's writers in line with the cluster view: admits the replica writers
   * placement wants and the devices an operator authorized, and removes replica writers of nodes
   * the policy lets go of and devices no longer authorized. Any writer may do it; apply ignores
   * repeats, so several writers doing it at once is harmless.
   */
  async syncWriters (policy: WriterPolicy): Promise<WriterChanges> {
    if (!this.current) return { added: [], removed: [] }
    let plan = await this.planWriters(policy)
    // A writer is removed at a point in the order: first learn what it wrote that peers hold,
    // so the removal comes after those writes and none of them is dropped.
    if (plan.removesReplica) {
      await this.catchUp(CATCH_UP_ON_OPEN_MS)
      plan = await this.planWriters(policy)
    }
    if (plan.ops.length > 0) await this.base.append(plan.ops.map(encodeHostedOp))
    return plan.changes
  }

  private async planWriters (policy: WriterPolicy): Promise<{ ops: Array<Parameters<typeof encodeHostedOp>[0]>, changes: WriterChanges, removesReplica: boolean }> {
    const changes: WriterChanges = { added: [], removed: [] }
    const ops: Array<Parameters<typeof encodeHostedOp>[0]> = []
    let removesReplica = false
    if (!this.base.writable || this.closing !== null) return { ops, changes, removesReplica }
    const { live: current, removed: removedBefore } = await this.writerIndex()
    const wantedHex = new Set(policy.replicas.map((w) => w.key.toString('hex')))
    const add = (key: Buffer, device: boolean, nodeId: Buffer, who: string): void => {
      ops.push({ type: HostedOpType.ADD_WRITER, key, device, nodeId })
      changes.added.push(who)
    }
    const remove = (hex: string, who: string): void => {
      ops.push({ type: HostedOpType.REMOVE_WRITER, key: Buffer.from(hex, 'hex') })
      changes.removed.push(who)
    }
    for (const w of policy.replicas) {
      const hex = w.key.toString('hex')
      if (current.has(hex) || (removedBefore.has(hex) && !policy.readmit(w))) continue
      add(w.key, false, w.nodeId, `node ${w.nodeId.toString('hex')}`)
    }
    for (const hex of policy.devices) {
      if (current.has(hex) || wantedHex.has(hex) || (removedBefore.has(hex) && !policy.readmitDevice(hex))) continue
      add(Buffer.from(hex, 'hex'), true, ZERO_KEY, `device ${hex}`)
    }
    for (const [hex, writer] of current) {
      if (writer.device) {
        if (!policy.devices.has(hex)) remove(hex, `device ${hex}`)
        continue
      }
      if (wantedHex.has(hex)) continue
      const node = writer.nodeId?.toString('hex') ?? policy.nodeOfWriter(hex)
      if (node === null || policy.keepNode(node)) continue
      remove(hex, `node ${node}`)
      removesReplica = true
    }
    return { ops, changes, removesReplica }
  }

  /**
   * Brings this copy up to what the other writers have now: asks peers for each writer's latest
   * length and fetches the blocks up to it (waiting at most `timeoutMs`), then applies them. A device
   * does this before it writes, so it learns of its own removal instead of writing past it.
   */
  async catchUp (timeoutMs: number): Promise<void> {
    const self = this.base.local.key.toString('hex')
    const others = [...(await this.writers()).keys()].filter((hex) => hex !== self)
    await Promise.all(others.map(async (hex) => {
      const core = this.opts.store.get({ key: Buffer.from(hex, 'hex') })
      let timer: NodeJS.Timeout | undefined
      let stop = (): void => {}
      try {
        // The blocks too: apply runs only over what is local, so a removal the peers hold but
        // this copy has not downloaded yet would leave it writing as if it were still a writer.
        const fetched = (async () => {
          await core.update({ wait: true })
          if (core.contiguousLength < core.length) await core.download({ start: core.contiguousLength, end: core.length }).done()
        })()
        fetched.catch(() => {}) // after a timeout the session closes under it
        await Promise.race([fetched, new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs)
          stop = resolve
          this.stopWaits.add(stop)
          if (this.closing !== null) resolve()
        })])
      } catch {
        // no peer had it: nothing newer to learn
      } finally {
        clearTimeout(timer)
        this.stopWaits.delete(stop)
        await core.close().catch(() => {})
      }
    }))
    if (this.closing === null) await this.base.update()
  }

  /** Drops the blob blocks held here so the disk comes back, then closes. */
  async purge (): Promise<void> {
    await this.ready().catch(() => {})
    for (const f of this.followed.values()) f.download.destroy()
    const cores = [this.localBlobs.core, ...[...this.followed.values()].map((f) => f.core)].filter((c) => !c.closed && c.length > 0)
    for (const core of cores) await core.clear(0, core.length)
    await this.close()
  }
}

export type { SyncProgress }
