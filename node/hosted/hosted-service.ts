// The node's side of hosted clouds: creating one, rotating its write token, checking a write's
// credentials, and the upkeep that keeps each cloud's writers equal to its replicas (a node
// announces its writer key for a cloud it holds; any writer admits the replicas placement wants
// and removes those it no longer has).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Readable } from 'node:stream'
import type Corestore from 'corestore'
import type { Placement } from '../../placement/index.js'
import Hypercore from 'hypercore'
import { verify } from 'hypercore-crypto'
import { BevyError, ErrorCode, formatKey, hexKey, OpType, signedWriteMessage, type Clock, type Op, type SignedWrite } from '../../protocol/index.js'
import type { ClusterBase } from '../cluster-base.js'
import type { NodeConfig } from '../config.js'
import type { Logger } from '../log.js'
import type { CloudHost } from '../clouds/cloud-host.js'
import type { ClusterSnapshot, HostedView } from '../view/snapshot.js'
import { HostedCloud, type WantedWriter, type WriteResult } from './hosted-cloud.js'
import { DeviceAnswer, type DeviceRequest } from './device-requests.js'

/** Pending device requests a node keeps at most; the oldest go first (requests carry no proof, so they must stay cheap). */
const MAX_PENDING_DEVICE_REQUESTS = 256

export interface PendingDevice { device: string, label: string, ageMs: number }

export interface HostedServiceDeps {
  store: Corestore
  host: CloudHost
  cluster: () => ClusterBase
  snapshot: () => ClusterSnapshot
  placement: () => Placement | null
  /** When this node last had proof of life from a node (hex id), or null if never. */
  lastHeardMs: (nodeHex: string) => number | null
  /** Reads the view again, so the caller sees its own ops. */
  refresh: () => Promise<void>
  selfId: Buffer
  config: Pick<NodeConfig, 'maxHostedFileBytes' | 'hostedAckTimeoutMs' | 'deviceRequests' | 'writableGraceMs' | 'signedWriteSkewMs' | 'downAfterMs'>
  clock: Clock
  log: Logger
}

export interface CreatedCloud { key: string, token: string, base: string, replicas: number }

export class HostedService {
  private readonly selfHex: string
  /** What this node last announced per cloud, until the view shows it. */
  private readonly announced = new Map<string, string>()
  /** Hex writer key → when this node first saw that removed replica writer wanted again (see heardSinceRemoval). */
  private readonly removalSeenAtMs = new Map<string, number>()
  /** Hex device key → when this node first saw that removed device still authorized in its view (see authorizedSinceRemoval). */
  private readonly deviceRemovalSeenAtMs = new Map<string, number>()
  /** Device requests awaiting an operator, by `<cloud hex>/<device hex>`, oldest first. */
  private readonly pending = new Map<string, { label: string, atMs: number }>()

  constructor (private readonly deps: HostedServiceDeps) {
    this.selfHex = hexKey(deps.selfId)
  }

  /**
   * Creates a hosted cloud: a new Autobase with this node as its first writer, registered with a
   * write token. This node holds it (synced: there is nothing to fetch) until the replicas
   * placement picks are writers and synced, then hands it over like any replica.
   */
  async create (replicas: number): Promise<CreatedCloud> {
    const cluster = this.deps.cluster()
    const key = randomBytes(32)
    const base = await HostedCloud.create(this.deps.store.namespace('cloud/' + hexKey(key)))
    const token = newToken()
    const lamport = () => cluster.lamport.tick()
    await cluster.appendMany([
      { type: OpType.CLOUD_ADD, lamport: lamport(), key, replicas },
      { type: OpType.CLOUD_HOSTED, lamport: lamport(), key, base, tokenHash: hashToken(token) },
      { type: OpType.CLOUD_WRITER, lamport: lamport(), key, nodeId: this.deps.selfId, writerKey: base },
      { type: OpType.CLOUD_HOLD, lamport: lamport(), key, nodeId: this.deps.selfId, held: true, synced: true }
    ])
    await this.deps.refresh()
    this.deps.log.info({ cloud: formatKey(key) }, 'hosted cloud created')
    return { key: formatKey(key), token, base: formatKey(base), replicas }
  }

  /** A new write token for a hosted cloud; the old one stops working once the view has it. */
  async rotateToken (key: Buffer): Promise<string> {
    const hosted = this.hostedView(hexKey(key))
    const cluster = this.deps.cluster()
    const token = newToken()
    await cluster.append({ type: OpType.CLOUD_HOSTED, lamport: cluster.lamport.tick(), key, base: hosted.base, tokenHash: hashToken(token) })
    await this.deps.refresh()
    return token
  }

  /** The hosted record of a cloud; CLOUD_NOT_FOUND or METHOD_NOT_ALLOWED (owner-held) otherwise. */
  hostedView (cloudHex: string): HostedView {
    const cloud = this.deps.snapshot().cloudByKey.get(cloudHex)
    if (cloud === undefined) throw new BevyError(ErrorCode.CLOUD_NOT_FOUND, 'no such cloud in this bevy')
    if (cloud.hosted === undefined) throw new BevyError(ErrorCode.METHOD_NOT_ALLOWED, 'this cloud is read-only: its owner publishes it with `bevy push`')
    return cloud.hosted
  }

  get maxFileBytes (): number {
    return this.deps.config.maxHostedFileBytes
  }

  /** Throws BAD_CLOUD_TOKEN unless `token` is the cloud's current write token. */
  checkToken (cloudHex: string, token: string | null): void {
    const { tokenHash } = this.hostedView(cloudHex)
    if (token === null || !timingSafeEqual(hashToken(token), tokenHash)) {
      throw new BevyError(ErrorCode.BAD_CLOUD_TOKEN, 'a write needs the cloud\'s write token: Authorization: Bearer <token> (`bevy cloud token KEY` makes one)')
    }
  }

  /**
   * Throws BAD_SIGNATURE unless `signature` is an authorized owner device's signature of `write`
   * (a device signs with its writer core's key pair, so its writer key follows from `publicKey`)
   * made within signedWriteSkewMs of this node's clock. The body's hash is checked as it streams.
   */
  checkSignedWrite (write: SignedWrite, publicKey: Buffer, signature: Buffer): void {
    const hosted = this.hostedView(hexKey(write.cloud))
    const refuse = (why: string): never => { throw new BevyError(ErrorCode.BAD_SIGNATURE, why) }
    if (publicKey.byteLength !== 32 || signature.byteLength !== 64) refuse('X-Bevy-Device must be a 32-byte key and X-Bevy-Signature a 64-byte signature')
    if (Math.abs(this.deps.clock.now() - write.timeMs) > this.deps.config.signedWriteSkewMs) refuse('X-Bevy-Time is too far from this node\'s clock: check the device\'s clock')
    const writerKey = Hypercore.key({ version: 1, signers: [{ publicKey }] })
    if (!hosted.devices.has(hexKey(writerKey))) refuse('this device is not authorized to write to the cloud (`bevy cloud authorize`)')
    if (!verify(signedWriteMessage(write), signature, publicKey)) refuse('the signature does not match the request')
  }

  async write (cloudHex: string, path: string, body: Readable, expectSha256: Buffer | null = null): Promise<WriteResult> {
    return this.writable(cloudHex).put(path, body, {
      expectSha256,
      maxBytes: this.deps.config.maxHostedFileBytes,
      ackTimeoutMs: this.deps.config.hostedAckTimeoutMs,
      writableGraceMs: this.deps.config.writableGraceMs,
      nowMs: this.deps.clock.now()
    })
  }

  async delete (cloudHex: string, path: string): Promise<{ version: number }> {
    return this.writable(cloudHex).delete(path, { ackTimeoutMs: this.deps.config.hostedAckTimeoutMs, writableGraceMs: this.deps.config.writableGraceMs })
  }

  /**
   * Authorizes an owner device's writer key to write to a hosted cloud, or takes that back. Any
   * node takes the request: it goes into the cluster view, and the cloud's writers admit or
   * remove the device from there. False when the view says so already.
   */
  async setDevice (key: Buffer, device: Buffer, authorized: boolean): Promise<boolean> {
    const hosted = this.hostedView(hexKey(key))
    this.pending.delete(`${hexKey(key)}/${hexKey(device)}`)
    if (hosted.devices.has(hexKey(device)) === authorized) return false
    const cluster = this.deps.cluster()
    await cluster.append({ type: OpType.CLOUD_DEVICE, lamport: cluster.lamport.tick(), key, device, authorized })
    await this.deps.refresh()
    // A replica puts the change into the cloud's own log at once, so a device that syncs with it
    // from now on finds itself added or removed; the other replicas follow from the view.
    await this.upkeep()
    return true
  }

  /**
   * A device asks to write to the hosted cloud whose base is `request.base`: AUTHORIZED if it is
   * already (or the node's policy is open, which authorizes it now), else PENDING until an
   * operator approves it. Null for a base that is no cloud of this bevy (no answer at all).
   */
  async decideDeviceRequest (request: DeviceRequest): Promise<DeviceAnswer | null> {
    const cloud = this.deps.snapshot().clouds.find((c) => c.hosted?.base.equals(request.base) === true)
    if (cloud?.hosted === undefined) return null
    const deviceHex = hexKey(request.device)
    if (cloud.hosted.devices.has(deviceHex)) return DeviceAnswer.AUTHORIZED
    if (this.deps.config.deviceRequests === 'open') {
      await this.setDevice(Buffer.from(cloud.keyHex, 'hex'), request.device, true)
      this.deps.log.info({ cloud: formatKey(Buffer.from(cloud.keyHex, 'hex')), device: formatKey(request.device), label: request.label }, 'device authorized by the open policy')
      return DeviceAnswer.AUTHORIZED
    }
    const id = `${cloud.keyHex}/${deviceHex}`
    if (!this.pending.has(id)) {
      this.deps.log.info({ cloud: formatKey(Buffer.from(cloud.keyHex, 'hex')), device: formatKey(request.device), label: request.label }, 'device asks to write: `bevy cloud approve` it')
      if (this.pending.size >= MAX_PENDING_DEVICE_REQUESTS) this.pending.delete(this.pending.keys().next().value as string)
    }
    this.pending.delete(id) // re-inserted: the most recent ask is the newest
    this.pending.set(id, { label: request.label, atMs: this.deps.clock.now() })
    return DeviceAnswer.PENDING
  }

  /** Devices that asked this node to write to a hosted cloud and are not authorized yet. */
  pendingDevices (key: Buffer): PendingDevice[] {
    const cloudHex = hexKey(key)
    const hosted = this.hostedView(cloudHex)
    const now = this.deps.clock.now()
    const out: PendingDevice[] = []
    for (const [id, { label, atMs }] of this.pending) {
      const [cloud, device] = id.split('/') as [string, string]
      if (cloud !== cloudHex || hosted.devices.has(device)) continue
      out.push({ device: formatKey(Buffer.from(device, 'hex')), label, ageMs: Math.max(0, now - atMs) })
    }
    return out
  }

  /** The owner devices authorized for a hosted cloud, as z-base-32 keys. */
  devices (key: Buffer): string[] {
    return [...this.hostedView(hexKey(key)).devices].sort().map((hex) => formatKey(Buffer.from(hex, 'hex')))
  }

  /** This node's open copy of a hosted cloud, which must be a writer. */
  private writable (cloudHex: string): HostedCloud {
    this.hostedView(cloudHex)
    const held = this.deps.host.replica(cloudHex)
    if (!(held instanceof HostedCloud) || !(held.writable || held.wasWriter)) throw new BevyError(ErrorCode.NOT_WRITABLE, 'this node holds no writable copy of the cloud')
    return held
  }

  /**
   * For every hosted cloud held here: announces this node's writer key if the view lacks it, and
   * if this node is a writer, admits wanted replicas and removes departed ones.
   */
  async upkeep (): Promise<void> {
    const snapshot = this.deps.snapshot()
    const placement = this.deps.placement()
    const cluster = this.deps.cluster()
    const ops: Op[] = []
    const announcing = new Map<string, string>()
    const seen = new Set<string>()
    for (const cloud of this.deps.host.hosted()) {
      const cloudHex = hexKey(cloud.key)
      const hosted = snapshot.cloudByKey.get(cloudHex)?.hosted
      if (hosted === undefined) continue
      const mine = cloud.writerKey
      const inView = hosted.writers.get(this.selfHex)
      if (inView?.equals(mine) === true) this.announced.delete(cloudHex)
      else if (this.announced.get(cloudHex) !== hexKey(mine)) {
        announcing.set(cloudHex, hexKey(mine))
        ops.push({ type: OpType.CLOUD_WRITER, lamport: cluster.lamport.tick(), key: cloud.key, nodeId: this.deps.selfId, writerKey: mine })
      }
      if (placement === null || !cloud.writable) continue
      const set = placement.replicaSet(cloudHex) ?? []
      const members = new Set(set.map((r) => r.node))
      const wanted = set.filter((r) => r.role === 'target').flatMap((r) => {
        const key = hosted.writers.get(r.node)
        return key === undefined ? [] : [{ key, nodeId: Buffer.from(r.node, 'hex') }]
      })
      const nodeOfWriter = (writerHex: string): string | null => {
        for (const [node, key] of hosted.writers) if (hexKey(key) === writerHex) return node
        return null
      }
      // A node placement no longer has (neither a target nor a handoff holder) loses its writer.
      const keepNode = (node: string): boolean => members.has(node)
      // Nodes judge liveness a little apart, so writers with different views must not undo each
      // other (every change reboots the cloud's view and stalls its writes): see heardSinceRemoval.
      const readmit = (w: WantedWriter): boolean => this.heardSinceRemoval(hexKey(w.key), hexKey(w.nodeId), seen)
      const readmitDevice = (deviceHex: string): boolean => this.authorizedSinceRemoval(deviceHex, seen)
      // One cloud's trouble (it is closing, say) must not hold up the others' upkeep.
      try {
        const { added, removed } = await cloud.syncWriters({ replicas: wanted, devices: hosted.devices, nodeOfWriter, keepNode, readmit, readmitDevice })
        if (added.length + removed.length > 0) this.deps.log.info({ cloud: formatKey(cloud.key), added, removed }, 'hosted cloud writers updated')
      } catch (err) {
        if (cloud.closing === null) this.deps.log.warn({ err, cloud: formatKey(cloud.key) }, 'hosted cloud writer upkeep failed')
      }
    }
    // A writer not judged this pass starts its wait over next time: the conservative side.
    for (const marks of [this.removalSeenAtMs, this.deviceRemovalSeenAtMs]) for (const hex of marks.keys()) if (!seen.has(hex)) marks.delete(hex)
    if (ops.length === 0) return
    await cluster.appendMany(ops)
    for (const [cloudHex, key] of announcing) this.announced.set(cloudHex, key)
  }

  /**
   * Whether a device some writer removed, which this node's view still says is authorized, may
   * be admitted again. The remover acted on a view that had the device deauthorized; this view
   * may not have that yet, and re-adding at once would let the device write again. So it waits
   * until the view has said "authorized" for downAfterMs since this node first saw the removal:
   * a deauthorization reaches it sooner than that, a real re-authorization stays.
   */
  private authorizedSinceRemoval (deviceHex: string, seen: Set<string>): boolean {
    const now = this.deps.clock.now()
    const seenAtMs = this.deviceRemovalSeenAtMs.get(deviceHex)
    if (seenAtMs === undefined) this.deviceRemovalSeenAtMs.set(deviceHex, now)
    if (seenAtMs === undefined || now - seenAtMs < this.deps.config.downAfterMs) {
      seen.add(deviceHex)
      return false
    }
    return true
  }

  /**
   * Whether a replica writer some writer removed (its node looked down there) may be admitted
   * again: only once this node has heard from it since it first saw the removal. A writer whose
   * view still has the node live would otherwise re-add it at once, the other remove it again.
   */
  private heardSinceRemoval (writerHex: string, nodeHex: string, seen: Set<string>): boolean {
    const seenAtMs = this.removalSeenAtMs.get(writerHex)
    if (seenAtMs === undefined) {
      this.removalSeenAtMs.set(writerHex, this.deps.clock.now())
      seen.add(writerHex)
      return false
    }
    if ((this.deps.lastHeardMs(nodeHex) ?? -Infinity) <= seenAtMs) {
      seen.add(writerHex)
      return false
    }
    return true
  }
}

function newToken (): string {
  return randomBytes(32).toString('base64url')
}

function hashToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
