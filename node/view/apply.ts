// Applies ops to the cluster view. Pure: no clock, no randomness, no I/O beyond the ViewStore
// and WriterHost ports. Every key is resolved last-writer-wins (lamport, then writer key) or by a
// monotonic counter, so two nodes holding the same set of ops build identical views whatever
// order Autobase linearised them in. A malformed or unauthorised op is skipped, never thrown.
import {
  BevyError, decodeOp, decodeRecord, encodeRecord, isBevyError, NodeState, NO_INVITE, OpType,
  MAX_LAMPORT, opName, prefixEnd, stampWins, ViewKey,
  drainRecordCodec, heartbeatRecordCodec, inviteRecordCodec, nodeRecordCodec, writerRecordCodec,
  type AddWriterOp, type AnnounceOp, type DrainOp, type HeartbeatOp, type InviteOp, type LeaveOp,
  cloudRecordCodec, holdRecordCodec, progressRecordCodec, MAX_REPLICAS,
  epochRecordCodec, nextWriterRecordCodec, proposalRecordCodec, SEEDED_PREFIXES,
  type EpochProposeOp, type NextWriterOp, type RebindOp, type SeedOp,
  type CloudAddOp, type CloudHoldOp, type CloudProgressOp, type CloudRemoveOp, type Codec, type NodeRecord, type Op, type Stamp, type UndrainOp,
  type EvictOp, type InviteRevokeOp, type FullOp, fullRecordCodec,
  type CloudHostedOp, type CloudWriterOp, hostedRecordCodec, cloudWriterRecordCodec, deviceRecordCodec
} from '../../protocol/index.js'
import type { ViewStore, WriterHost } from './view-store.js'

export interface ApplyContext {
  /** How many writers become indexers (odd, so a majority is well defined). */
  maxIndexers: number
  /** Called for every op skipped, with the reason. */
  onSkip?: (reason: string, from: Buffer) => void
  /** Called with every lamport seen, so the local clock can stay ahead of it. */
  onLamport?: (lamport: number) => void
  /** The log's bootstrap writer, the only one that may seed it. Without it, seeds are refused. */
  bootstrapKey?: () => Buffer
}

export interface InputNode { value: unknown, from: { key: Buffer } }

type Outcome = { applied: true } | { applied: false, reason: string }
const APPLIED: Outcome = { applied: true }
const skip = (reason: string): Outcome => ({ applied: false, reason })

/** Applies a batch of raw Autobase nodes. Null values are Autobase acks and carry nothing. */
export async function applyNodes (nodes: InputNode[], store: ViewStore, host: WriterHost, ctx: ApplyContext): Promise<void> {
  for (const node of nodes) {
    if (node.value === null) continue
    const outcome = await applyRaw(node.value, node.from.key, store, host, ctx)
    if (!outcome.applied) ctx.onSkip?.(outcome.reason, node.from.key)
  }
}

export async function applyRaw (bytes: unknown, from: Buffer, store: ViewStore, host: WriterHost, ctx: ApplyContext): Promise<Outcome> {
  let op: Op
  try {
    op = decodeOp(bytes)
  } catch (err) {
    if (isBevyError(err)) return skip(`${err.code}: ${err.message}`)
    throw err
  }
  if ('lamport' in op) {
    if (op.lamport > MAX_LAMPORT) return skip(`${opName(op.type)}: lamport ${op.lamport} is beyond ${MAX_LAMPORT}`)
    ctx.onLamport?.(op.lamport)
  }
  // An evicted node's writer may still have ops in flight (or write more before Autobase drops
  // it): none of them counts, whatever it is.
  if (await store.get(ViewKey.evictedWriter(from)) !== null) return skip(`${opName(op.type)}: written by an evicted node`)
  try {
    return await applyOp(op, from, store, host, ctx)
  } catch (err) {
    // A record in the view that fails to decode means a bug or a corrupt peer; skip the op.
    if (err instanceof BevyError) return skip(`${opName(op.type)}: ${err.message}`)
    throw err
  }
}

export function applyOp (op: Op, from: Buffer, store: ViewStore, host: WriterHost, ctx: ApplyContext): Promise<Outcome> {
  switch (op.type) {
    case OpType.ADD_WRITER: return applyAddWriter(op, store, host, ctx)
    case OpType.ANNOUNCE: return applyAnnounce(op, from, store)
    case OpType.HEARTBEAT: return applyHeartbeat(op, from, store)
    case OpType.DRAIN:
    case OpType.UNDRAIN: return applyDrain(op, from, store)
    case OpType.LEAVE: return applyLeave(op, from, store)
    case OpType.INVITE: return applyInvite(op, store)
    case OpType.CLOUD_ADD:
    case OpType.CLOUD_REMOVE: return applyCloud(op, from, store)
    case OpType.CLOUD_HOLD: return applyHold(op, from, store)
    case OpType.CLOUD_PROGRESS: return applyProgress(op, from, store)
    case OpType.NEXT_WRITER: return applyNextWriter(op, from, store)
    case OpType.EPOCH_PROPOSE: return applyProposal(op, from, store)
    case OpType.SEED: return applySeed(op, from, store, ctx)
    case OpType.REBIND: return applyRebind(op, store)
    case OpType.EVICT: return applyEvict(op, from, store, host)
    case OpType.INVITE_REVOKE: return applyInviteRevoke(op, store)
    case OpType.FULL: return applyFull(op, from, store)
    case OpType.CLOUD_HOSTED: return applyHosted(op, from, store)
    case OpType.CLOUD_WRITER: return applyCloudWriter(op, from, store)
    case OpType.CLOUD_DEVICE: return putIfNewer(store, ViewKey.cloudDevice(op.key, op.device), deviceRecordCodec, { lamport: op.lamport, writer: from, authorized: op.authorized }, 'cloud-device')
  }
}

async function applyAddWriter (op: AddWriterOp, store: ViewStore, host: WriterHost, ctx: ApplyContext): Promise<Outcome> {
  const writerKey = ViewKey.writer(op.key)
  if (await store.get(writerKey) !== null) return skip('add-writer: already a writer')
  if (!op.inviteId.equals(NO_INVITE)) {
    const inviteBytes = await store.get(ViewKey.invite(op.inviteId))
    if (inviteBytes === null) return skip('add-writer: unknown invite')
    const invite = decodeRecord(inviteRecordCodec, inviteBytes)
    const used = await countRange(store, ViewKey.inviteUsePrefix(op.inviteId))
    if (used >= invite.uses) return skip('add-writer: invite used up')
    if (await store.get(ViewKey.inviteRevoked(op.inviteId)) !== null) return skip('add-writer: invite revoked')
    await store.put(ViewKey.inviteUse(op.inviteId, op.key), Buffer.alloc(0))
  }
  const indexers = await countIndexers(store)
  const indexer = indexers < ctx.maxIndexers
  await host.addWriter(op.key, { indexer })
  await store.put(writerKey, encodeRecord(writerRecordCodec, { indexer, inviteId: op.inviteId }))
  return APPLIED
}

async function applyAnnounce (op: AnnounceOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const existing = await readNode(store, op.nodeId)
  if (existing !== null && !existing.writerKey.equals(from)) return skip('announce: node id belongs to another writer')
  if (existing?.state === NodeState.EVICTED) return skip('announce: node was evicted')
  const next: NodeRecord = {
    lamport: op.lamport,
    writer: from,
    nodeId: op.nodeId,
    writerKey: from,
    url: op.url,
    zone: op.zone,
    capacity: op.capacity,
    state: NodeState.ACTIVE
  }
  if (existing !== null && !stampWins(next, existing)) return skip('announce: stale')
  await store.put(ViewKey.node(op.nodeId), encodeRecord(nodeRecordCodec, next))
  return APPLIED
}

async function applyHeartbeat (op: HeartbeatOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'heartbeat')
  if (refused !== null) return refused
  const key = ViewKey.heartbeat(op.nodeId)
  const existing = await store.get(key)
  if (existing !== null && decodeRecord(heartbeatRecordCodec, existing).seq >= op.seq) return skip('heartbeat: stale')
  await store.put(key, encodeRecord(heartbeatRecordCodec, { seq: op.seq, clockMs: op.clockMs, load: op.load }))
  return APPLIED
}

async function applyDrain (op: DrainOp | UndrainOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  if (await readNode(store, op.nodeId) === null) return skip(`${opName(op.type)}: unknown node`)
  const next = { lamport: op.lamport, writer: from, drained: op.type === OpType.DRAIN }
  return putIfNewer(store, ViewKey.drain(op.nodeId), drainRecordCodec, next, opName(op.type))
}

async function applyLeave (op: LeaveOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const node = await readNode(store, op.nodeId)
  if (node === null) return skip('leave: unknown node')
  if (!node.writerKey.equals(from)) return skip('leave: not written by the node itself')
  if (node.state === NodeState.EVICTED) return skip('leave: node was evicted')
  const next: NodeRecord = { ...node, lamport: op.lamport, writer: from, state: NodeState.LEFT }
  if (!stampWins(next, node)) return skip('leave: stale')
  await store.put(ViewKey.node(op.nodeId), encodeRecord(nodeRecordCodec, next))
  return APPLIED
}

async function applyInvite (op: InviteOp, store: ViewStore): Promise<Outcome> {
  if (op.uses < 1) return skip('invite: uses must be at least 1')
  const key = ViewKey.invite(op.inviteId)
  // Invites are immutable once written: the first definition stands (ids are random, so
  // a second definition can only be a replay or a forgery).
  if (await store.get(key) !== null) return skip('invite: already defined')
  await store.put(key, encodeRecord(inviteRecordCodec, { publicKey: op.publicKey, expiresMs: op.expiresMs, uses: op.uses }))
  return APPLIED
}

async function applyCloud (op: CloudAddOp | CloudRemoveOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const adding = op.type === OpType.CLOUD_ADD
  if (adding && (op.replicas < 1 || op.replicas > MAX_REPLICAS)) return skip(`cloud-add: replicas must be 1 to ${MAX_REPLICAS}`)
  const key = ViewKey.cloud(op.key)
  const existing = await store.get(key)
  const previous = existing === null ? null : decodeRecord(cloudRecordCodec, existing)
  // A tombstone carries no replica count: copying the record it replaces would make it depend on
  // which adds happened to be applied before the removal, so views would differ by order.
  const next = { lamport: op.lamport, writer: from, replicas: adding ? op.replicas : 0, removed: !adding }
  if (previous !== null && !stampWins(next, previous)) return skip(`${opName(op.type)}: stale`)
  await store.put(key, encodeRecord(cloudRecordCodec, next))
  return APPLIED
}

async function applyHold (op: CloudHoldOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'cloud-hold')
  if (refused !== null) return refused
  const next = { lamport: op.lamport, writer: from, held: op.held, synced: op.held && op.synced }
  return putIfNewer(store, ViewKey.hold(op.key, op.nodeId), holdRecordCodec, next, 'cloud-hold')
}

async function applyProgress (op: CloudProgressOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'cloud-progress')
  if (refused !== null) return refused
  const { type: _type, key, nodeId: _node, ...progress } = op
  return putIfNewer(store, ViewKey.progress(key, op.nodeId), progressRecordCodec, { ...progress, writer: from }, 'cloud-progress')
}

async function applyNextWriter (op: NextWriterOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'next-writer')
  if (refused !== null) return refused
  const key = ViewKey.nextWriter(op.nodeId)
  const existing = await store.get(key)
  if (existing !== null && decodeRecord(nextWriterRecordCodec, existing).epoch > op.epoch) return skip('next-writer: stale')
  await store.put(key, encodeRecord(nextWriterRecordCodec, { epoch: op.epoch, writerKey: op.writerKey }))
  return APPLIED
}

async function applyProposal (op: EpochProposeOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'epoch-propose')
  if (refused !== null) return refused
  if (op.epoch !== await currentEpoch(store) + 1) return skip('epoch-propose: not the next epoch')
  const existing = await store.get(ViewKey.proposal)
  // The first proposal stands; a later one only replaces it by naming it (its seed was lost).
  if (existing !== null && !decodeRecord(proposalRecordCodec, existing).key.equals(op.replaces)) return skip('epoch-propose: already proposed')
  await store.put(ViewKey.proposal, encodeRecord(proposalRecordCodec, { epoch: op.epoch, key: op.key, proposer: op.nodeId }))
  return APPLIED
}

async function applySeed (op: SeedOp, from: Buffer, store: ViewStore, ctx: ApplyContext): Promise<Outcome> {
  const bootstrap = ctx.bootstrapKey?.()
  if (bootstrap === undefined || !bootstrap.equals(from)) return skip('seed: not written by the bootstrap writer')
  if (await store.get(ViewKey.epoch) !== null) return skip('seed: already sealed')
  if (op.epoch < 1) return skip('seed: epoch must be at least 1')
  for (const entry of op.entries) {
    if (!SEEDED_PREFIXES.some((prefix) => entry.key.startsWith(prefix))) return skip(`seed: key ${entry.key} is not durable state`)
  }
  for (const entry of op.entries) await store.put(entry.key, entry.value)
  if (op.done) await store.put(ViewKey.epoch, encodeRecord(epochRecordCodec, { epoch: op.epoch }))
  return APPLIED
}

async function applyRebind (op: RebindOp, store: ViewStore): Promise<Outcome> {
  const node = await readNode(store, op.nodeId)
  if (node === null) return skip('rebind: unknown node')
  if (await store.get(ViewKey.writer(op.writerKey)) === null) return skip('rebind: key is not a writer')
  if (node.writerKey.equals(op.writerKey)) return skip('rebind: already bound')
  // The stamp stays: a rebind is not a newer announcement, only a new key for the same node.
  await store.put(ViewKey.node(op.nodeId), encodeRecord(nodeRecordCodec, { ...node, writerKey: op.writerKey }))
  return APPLIED
}

async function applyEvict (op: EvictOp, from: Buffer, store: ViewStore, host: WriterHost): Promise<Outcome> {
  const node = await readNode(store, op.nodeId)
  if (node === null) return skip('evict: unknown node')
  if (node.state === NodeState.EVICTED) return skip('evict: already evicted')
  if (node.writerKey.equals(from)) return skip('evict: a node cannot evict itself (it leaves)')
  // Eviction is final, so it needs no stamp contest: the node record keeps its stamp and only
  // changes state, and no later announce or leave of the node is accepted.
  await store.put(ViewKey.node(op.nodeId), encodeRecord(nodeRecordCodec, { ...node, state: NodeState.EVICTED }))
  await store.put(ViewKey.evictedWriter(node.writerKey), Buffer.alloc(0))
  const writerKey = ViewKey.writer(node.writerKey)
  const writer = await store.get(writerKey)
  if (writer !== null) {
    // Autobase refuses to remove the last indexer; the writer stays but every op it writes is ignored.
    if (await host.removeWriter(node.writerKey)) {
      await store.put(writerKey, encodeRecord(writerRecordCodec, { ...decodeRecord(writerRecordCodec, writer), indexer: false }))
    }
  }
  return APPLIED
}

async function applyFull (op: FullOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'full')
  if (refused !== null) return refused
  return putIfNewer(store, ViewKey.full(op.nodeId), fullRecordCodec, { lamport: op.lamport, writer: from, full: op.full }, 'full')
}

async function applyHosted (op: CloudHostedOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const existing = await store.get(ViewKey.hosted(op.key))
  // A cloud's Autobase is fixed at creation: a later op may rotate the token, never move the data.
  if (existing !== null && !decodeRecord(hostedRecordCodec, existing).base.equals(op.base)) return skip('cloud-hosted: the cloud has another base')
  return putIfNewer(store, ViewKey.hosted(op.key), hostedRecordCodec, { lamport: op.lamport, writer: from, base: op.base, tokenHash: op.tokenHash }, 'cloud-hosted')
}

async function applyCloudWriter (op: CloudWriterOp, from: Buffer, store: ViewStore): Promise<Outcome> {
  const refused = await refuseUnlessSelf(store, op.nodeId, from, 'cloud-writer')
  if (refused !== null) return refused
  return putIfNewer(store, ViewKey.cloudWriter(op.key, op.nodeId), cloudWriterRecordCodec, { lamport: op.lamport, writer: from, writerKey: op.writerKey }, 'cloud-writer')
}

async function applyInviteRevoke (op: InviteRevokeOp, store: ViewStore): Promise<Outcome> {
  if (await store.get(ViewKey.invite(op.inviteId)) === null) return skip('invite-revoke: unknown invite')
  const key = ViewKey.inviteRevoked(op.inviteId)
  if (await store.get(key) !== null) return skip('invite-revoke: already revoked')
  await store.put(key, Buffer.alloc(0))
  return APPLIED
}

/** The epoch a view belongs to: 0 until a seed sealed it. */
export async function currentEpoch (store: ViewStore): Promise<number> {
  const bytes = await store.get(ViewKey.epoch)
  return bytes === null ? 0 : decodeRecord(epochRecordCodec, bytes).epoch
}

/** Records about a node that only the node itself may write: a skip unless `from` is its writer. */
async function refuseUnlessSelf (store: ViewStore, nodeId: Buffer, from: Buffer, what: string): Promise<Outcome | null> {
  const node = await readNode(store, nodeId)
  if (node === null) return skip(`${what}: unknown node`)
  if (!node.writerKey.equals(from)) return skip(`${what}: not written by the node itself`)
  if (node.state === NodeState.EVICTED) return skip(`${what}: node was evicted`)
  return null
}

/** Last-writer-wins write: stores `next` unless the record already there carries a newer stamp. */
async function putIfNewer<T extends Stamp> (store: ViewStore, key: string, codec: Codec<T>, next: T, what: string): Promise<Outcome> {
  const existing = await store.get(key)
  if (existing !== null && !stampWins(next, decodeRecord(codec, existing))) return skip(`${what}: stale`)
  await store.put(key, encodeRecord(codec, next))
  return APPLIED
}

/**
 * Node records decoded, by the stored bytes: every heartbeat and hold checks its node's record,
 * which rarely changes, so a store that hands back the same bytes (the in-memory one) is spared
 * decoding it again. Frozen, as callers share one copy.
 */
const decodedNodes = new WeakMap<Buffer, Readonly<NodeRecord>>()

async function readNode (store: ViewStore, nodeId: Buffer): Promise<Readonly<NodeRecord> | null> {
  const bytes = await store.get(ViewKey.node(nodeId))
  if (bytes === null) return null
  let record = decodedNodes.get(bytes)
  if (record === undefined) decodedNodes.set(bytes, record = Object.freeze(decodeRecord(nodeRecordCodec, bytes)))
  return record
}

async function countRange (store: ViewStore, prefix: string): Promise<number> {
  let n = 0
  for await (const _ of store.range(prefix, prefixEnd(prefix))) n++
  return n
}

async function countIndexers (store: ViewStore): Promise<number> {
  let n = 0
  for await (const { value } of store.range(ViewKey.writerPrefix, prefixEnd(ViewKey.writerPrefix))) {
    if (decodeRecord(writerRecordCodec, value).indexer) n++
  }
  return n
}
