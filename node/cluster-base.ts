// The cluster's shared log: one Autobase per bevy whose view is a Hyperbee, applied by the pure
// apply in view/apply.ts.
import type ProtomuxWakeup from 'protomux-wakeup'
import Autobase, { type ApplyHost } from 'autobase'
import Hyperbee from 'hyperbee'
import ReadyResource from 'ready-resource'
import type Corestore from 'corestore'
import type { Logger } from 'pino'
import { BevyError, encodeOp, ErrorCode, formatKey, LamportClock, prefixEnd, ViewKey, type Op } from '../protocol/index.js'
import { applyNodes, type ApplyContext } from './view/apply.js'
import { BeeViewStore } from './view/bee-store.js'
import type { WriterHost } from './view/view-store.js'
import { readSnapshot, type ClusterSnapshot } from './view/snapshot.js'
import { whenWritable } from './writable.js'

export interface ClusterBaseOptions {
  store: Corestore
  /** The bevy key to open, or null to found a new bevy. */
  key: Buffer | null
  maxIndexers: number
  /** The node's wakeup protocol: how peers hint which writers have news (see Bevy's wakeup). */
  wakeup: ProtomuxWakeup
  /** How long a write waits for a node that was a writer to be one again. */
  writableGraceMs: number
  /**
   * Drops the log's unindexed tip on open and recomputes it from the writers' logs. Set after a
   * crash: a node killed while its Autobase moved its views to a new indexer set can leave a view
   * that claims blocks it never stored, and no peer has them, so without this it waits forever.
   */
  recomputeTip?: boolean
  log: Logger
}

export class ClusterBase extends ReadyResource {
  readonly base: Autobase<Hyperbee>
  readonly lamport = new LamportClock()
  readonly view: BeeViewStore
  private readonly log: Logger
  private viewDownload: { destroy (): void } | null = null
  private readonly writableGraceMs: number
  /** Set once this node has been a writer: from then on a lapse is a reboot, not a missing admission. */
  private wasWritable = false

  constructor (opts: ClusterBaseOptions) {
    super()
    this.log = opts.log
    this.writableGraceMs = opts.writableGraceMs
    const ctx: ApplyContext = {
      maxIndexers: opts.maxIndexers,
      onSkip: (reason, from) => this.log.warn({ from: formatKey(from), reason }, 'skipped op'),
      onLamport: (n) => this.lamport.observe(n),
      bootstrapKey: () => this.base.key
    }
    this.base = new Autobase<Hyperbee>(opts.store, opts.key, {
      open: (store) => new Hyperbee(store.get('view'), { keyEncoding: 'utf-8', valueEncoding: 'binary', extension: false }),
      apply: async (nodes, view, host) => applyNodes(nodes, new BeeViewStore(view), writerHost(host), ctx),
      close: async (view) => view.close(),
      wakeup: opts.wakeup,
      nukeTip: opts.recomputeTip === true
    })
    this.base.on('error', (err: Error) => this.log.error({ err }, 'cluster log error'))
    this.base.on('writable', () => { this.wasWritable = true })
    // A fast-forward (how a joiner or a node far behind catches up) leaves the view sparse.
    this.base.on('fast-forward', () => this.keepViewLocal())
    this.view = new BeeViewStore(this.base.view)
  }

  protected override async _open (): Promise<void> {
    try {
      await this.base.ready()
    } catch (err) {
      await this.base.close() // ReadyResource will not call _close after a failed open
      throw err
    }
    if (this.base.writable) this.wasWritable = true
    this.keepViewLocal()
  }

  protected override async _close (): Promise<void> {
    this.viewDownload?.destroy()
    await this.base.close()
  }

  /**
   * Fetches every block of the view this node lacks, in the background. Reading a sparse view
   * waits on peers, so without this a node restarted while the others are away (or still
   * connecting) could not even read its own view.
   */
  private keepViewLocal (): void {
    if (this.closing !== null) return
    const core = this.base.view.core
    this.viewDownload?.destroy()
    const download = core.download({ start: 0, end: -1 })
    this.viewDownload = download
    download.done().catch(() => {}) // cancelled on close or on the next fast-forward
  }

  get key (): Buffer { return this.base.key }
  get discoveryKey (): Buffer { return this.base.discoveryKey }
  get writable (): boolean { return this.base.writable }
  get localKey (): Buffer { return this.base.local.key }

  async append (op: Op): Promise<void> {
    await this.ensureWritable()
    await this.base.append(encodeOp(op))
  }

  /** Appends several ops as one batch. */
  async appendMany (ops: Op[]): Promise<void> {
    if (ops.length === 0) return
    await this.ensureWritable()
    await this.base.append(ops.map(encodeOp))
  }

  /**
   * Throws unless this node may append. Autobase drops its local writer for a moment while it
   * reboots the view (after an indexer change, say), so a node that has been a writer waits out
   * such a lapse instead of failing the client's write.
   */
  private async ensureWritable (): Promise<void> {
    if (this.closing !== null) throw new BevyError(ErrorCode.CLOSED, 'cluster log is closing')
    if (this.base.writable) return
    const notWritable = new BevyError(ErrorCode.NOT_WRITABLE, 'this node is not (yet) a writer of the bevy')
    if (!this.wasWritable || this.writableGraceMs === 0) throw notWritable
    this.log.debug('writer lapsed (view reboot?); waiting to be writable again')
    try {
      await this.waitWritable(this.writableGraceMs)
    } catch (err) {
      throw this.closing !== null ? err : notWritable
    }
  }

  /** Appends bytes as they are. Only for tests that prove apply survives garbage. */
  async appendRaw (bytes: Buffer): Promise<void> {
    await this.base.append(bytes)
  }

  /**
   * Resolves once some peer holds all of this node's own writer log (so an op appended just
   * before the process stops is not lost with it), or false after `timeoutMs`.
   */
  async waitReplicated (timeoutMs: number): Promise<boolean> {
    const local = this.base.local
    const deadline = Date.now() + timeoutMs
    while (this.closing === null) {
      if (local.peers.some((peer) => peer.remoteContiguousLength >= local.length)) return true
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return false
  }

  /** Resolves once this node may append, or rejects after `timeoutMs`. */
  async waitWritable (timeoutMs: number): Promise<void> {
    if (await whenWritable(this.base as Autobase<unknown>, timeoutMs)) return
    if (this.base.closing !== null || this.closing !== null) throw new BevyError(ErrorCode.CLOSED, 'cluster log closed')
    throw new BevyError(ErrorCode.PAIRING_TIMEOUT, `not admitted as a writer within ${timeoutMs} ms`)
  }

  /** Every writer this log has admitted, and its own local writer. */
  async writerKeys (): Promise<Buffer[]> {
    const keys = [this.base.local.key]
    for await (const { key } of this.view.range(ViewKey.writerPrefix, prefixEnd(ViewKey.writerPrefix))) {
      keys.push(Buffer.from(key.slice(ViewKey.writerPrefix.length), 'hex'))
    }
    return keys
  }

  /** The cores this log stands on now: its writers', its view's and its system core. */
  async coreKeys (): Promise<Buffer[]> {
    const keys = new Map<string, Buffer>()
    const add = (key: Buffer | undefined) => { if (key !== undefined) keys.set(key.toString('hex'), key) }
    add(this.base.view.core.key)
    add(this.base.system?.core.key)
    for (const key of await this.writerKeys()) add(key)
    return [...keys.values()]
  }

  snapshot (): Promise<ClusterSnapshot> {
    return readSnapshot(this.view)
  }
}

/** Apply's view of Autobase membership: a removal Autobase would refuse (the last indexer) reports false instead of throwing. */
export function writerHost (host: ApplyHost): WriterHost {
  return {
    addWriter: (key, opts) => host.addWriter(key, opts),
    removeWriter: async (key) => {
      if (!host.removeable(key)) return false
      await host.removeWriter(key)
      return true
    }
  }
}
