// Ops: the records nodes append to the cluster Autobase. Each op is
//   version (uint) · type (uint) · body
// Type numbers are APPEND ONLY: never reuse or renumber one, since old logs stay readable forever.
import c from 'compact-encoding'
import { loadCodec, type Load } from './load.js'
import { boundedArray, boundedBuffer, boundedString, key32, struct, type Codec } from './struct.js'
import { opFraming } from './versioned-ops.js'

export const OP_VERSION = 1

/** Append only. */
export const OpType = {
  ADD_WRITER: 1,
  ANNOUNCE: 2,
  HEARTBEAT: 3,
  DRAIN: 4,
  UNDRAIN: 5,
  LEAVE: 6,
  INVITE: 7,
  CLOUD_ADD: 8,
  CLOUD_REMOVE: 9,
  CLOUD_HOLD: 10,
  CLOUD_PROGRESS: 11,
  NEXT_WRITER: 12,
  EPOCH_PROPOSE: 13,
  SEED: 14,
  REBIND: 15,
  EVICT: 16,
  INVITE_REVOKE: 17,
  FULL: 18,
  CLOUD_HOSTED: 19,
  CLOUD_WRITER: 20,
  CLOUD_DEVICE: 21
} as const
export type OpType = typeof OpType[keyof typeof OpType]

export const MAX_URL_BYTES = 2048
export const MAX_ZONE_BYTES = 64

/** Admit a writer. `inviteId` names the invite it paired with (all zeros for none). */
export interface AddWriterOp { type: typeof OpType.ADD_WRITER, key: Buffer, inviteId: Buffer }
/** A node states who it is and where it serves. Only the node itself may announce. */
export interface AnnounceOp { type: typeof OpType.ANNOUNCE, lamport: number, nodeId: Buffer, url: string, zone: string, capacity: number }
/** Liveness and load. `clockMs` is the writer's own clock, kept for display and skew checks. */
export interface HeartbeatOp { type: typeof OpType.HEARTBEAT, nodeId: Buffer, seq: number, clockMs: number, load: Load }
export interface DrainOp { type: typeof OpType.DRAIN, lamport: number, nodeId: Buffer }
export interface UndrainOp { type: typeof OpType.UNDRAIN, lamport: number, nodeId: Buffer }
export interface LeaveOp { type: typeof OpType.LEAVE, lamport: number, nodeId: Buffer }
/** Records an invite so any member, not only its creator, can admit its holder. */
export interface InviteOp { type: typeof OpType.INVITE, inviteId: Buffer, publicKey: Buffer, expiresMs: number, uses: number }

/** Registers a cloud (or changes its replica count). Idempotent. */
export interface CloudAddOp { type: typeof OpType.CLOUD_ADD, lamport: number, key: Buffer, replicas: number }
export interface CloudRemoveOp { type: typeof OpType.CLOUD_REMOVE, lamport: number, key: Buffer }
/** A node reports whether it holds a cloud and whether that copy is synced. Only the node itself may. */
export interface CloudHoldOp { type: typeof OpType.CLOUD_HOLD, lamport: number, key: Buffer, nodeId: Buffer, held: boolean, synced: boolean }

/**
 * A node reports how far its copy of a cloud has synced: blocks and bytes had over known, and the
 * drive version. Display only; placement reads `synced` from CLOUD_HOLD. Only the node itself may.
 */
export interface CloudProgressOp extends SyncProgress { type: typeof OpType.CLOUD_PROGRESS, lamport: number, key: Buffer, nodeId: Buffer }

export interface SyncProgress {
  version: number
  blocksHad: number
  blocksTotal: number
  bytesHad: number
  bytesTotal: number
  /** Peers this node replicates the cloud with. */
  peers: number
}

export const syncProgressFields = {
  version: c.uint,
  blocksHad: c.uint,
  blocksTotal: c.uint,
  bytesHad: c.uint,
  bytesTotal: c.uint,
  peers: c.uint
}

export const MAX_REPLICAS = 16

// Epochs (docs/bounded-storage.md): the cluster log is replaced now and then by a fresh Autobase
// that starts from the durable state alone, so no node keeps an ever-growing log.

/** A node names the writer key it will use in epoch `epoch`, so a seed can admit it up front. Only the node itself may. */
export interface NextWriterOp { type: typeof OpType.NEXT_WRITER, nodeId: Buffer, epoch: number, writerKey: Buffer }
/**
 * A node proposes the next epoch: `key` is the new Autobase, already seeded. The first proposal
 * for an epoch stands, unless a later one `replaces` its key (its proposer died before anyone
 * could read the seed). Only the proposer itself may.
 */
export interface EpochProposeOp { type: typeof OpType.EPOCH_PROPOSE, nodeId: Buffer, epoch: number, key: Buffer, replaces: Buffer }
/** One batch of the durable state a new epoch starts from; only its bootstrap writer may, and only until `done`. */
export interface SeedOp { type: typeof OpType.SEED, epoch: number, entries: SeedEntry[], done: boolean }
export interface SeedEntry { key: string, value: Buffer }
/** Binds a node to a new writer key: a member appends it for a node that proved who it is over the wire. */
export interface RebindOp { type: typeof OpType.REBIND, nodeId: Buffer, writerKey: Buffer }
/** An operator evicts a node: its writer is removed and everything it writes later is ignored. Final. */
export interface EvictOp { type: typeof OpType.EVICT, lamport: number, nodeId: Buffer }
/** An operator revokes an invite: no member admits anyone with it any more. Final. */
export interface InviteRevokeOp { type: typeof OpType.INVITE_REVOKE, inviteId: Buffer }
/** A node says it takes no new replicas (disk or cloud cap reached), or takes them again. Only the node itself may. */
export interface FullOp { type: typeof OpType.FULL, lamport: number, nodeId: Buffer, full: boolean }

/**
 * Marks a cloud as hosted (multi-writer): `base` is its own Autobase, `tokenHash` the SHA-256 of
 * its write token. A later op with a newer stamp rotates the token.
 */
export interface CloudHostedOp { type: typeof OpType.CLOUD_HOSTED, lamport: number, key: Buffer, base: Buffer, tokenHash: Buffer }
/** A node names its writer key for a hosted cloud it holds, so a writer of the cloud admits it. Only the node itself may. */
export interface CloudWriterOp { type: typeof OpType.CLOUD_WRITER, lamport: number, key: Buffer, nodeId: Buffer, writerKey: Buffer }

/** An operator authorizes (or deauthorizes) an owner device's writer key for a hosted cloud; the cloud's writers apply it. */
export interface CloudDeviceOp { type: typeof OpType.CLOUD_DEVICE, lamport: number, key: Buffer, device: Buffer, authorized: boolean }

/** Bounds on a seed op, so a peer cannot make one op huge. */
export const MAX_SEED_ENTRIES = 4096
export const MAX_SEED_KEY_BYTES = 256
export const MAX_SEED_VALUE_BYTES = 4096

export type Op = AddWriterOp | AnnounceOp | HeartbeatOp | DrainOp | UndrainOp | LeaveOp | InviteOp | CloudAddOp | CloudRemoveOp | CloudHoldOp | CloudProgressOp |
  NextWriterOp | EpochProposeOp | SeedOp | RebindOp | EvictOp | InviteRevokeOp | FullOp | CloudHostedOp | CloudWriterOp | CloudDeviceOp
type Body<T extends Op> = Omit<T, 'type'>

const nodeRef = struct<Body<DrainOp>>({ lamport: c.uint, nodeId: key32 })

const BODY_CODECS: { [K in OpType]: Codec<Body<Extract<Op, { type: K }>>> } = {
  [OpType.ADD_WRITER]: struct<Body<AddWriterOp>>({ key: key32, inviteId: key32 }),
  [OpType.ANNOUNCE]: struct<Body<AnnounceOp>>({
    lamport: c.uint,
    nodeId: key32,
    url: boundedString(MAX_URL_BYTES),
    zone: boundedString(MAX_ZONE_BYTES),
    capacity: c.uint
  }),
  [OpType.HEARTBEAT]: struct<Body<HeartbeatOp>>({ nodeId: key32, seq: c.uint, clockMs: c.uint, load: loadCodec }),
  [OpType.DRAIN]: nodeRef,
  [OpType.UNDRAIN]: nodeRef,
  [OpType.LEAVE]: nodeRef,
  [OpType.INVITE]: struct<Body<InviteOp>>({ inviteId: key32, publicKey: key32, expiresMs: c.uint, uses: c.uint }),
  [OpType.CLOUD_ADD]: struct<Body<CloudAddOp>>({ lamport: c.uint, key: key32, replicas: c.uint }),
  [OpType.CLOUD_REMOVE]: struct<Body<CloudRemoveOp>>({ lamport: c.uint, key: key32 }),
  [OpType.CLOUD_HOLD]: struct<Body<CloudHoldOp>>({ lamport: c.uint, key: key32, nodeId: key32, held: c.bool, synced: c.bool }),
  [OpType.CLOUD_PROGRESS]: struct<Body<CloudProgressOp>>({ lamport: c.uint, key: key32, nodeId: key32, ...syncProgressFields }),
  [OpType.NEXT_WRITER]: struct<Body<NextWriterOp>>({ nodeId: key32, epoch: c.uint, writerKey: key32 }),
  [OpType.EPOCH_PROPOSE]: struct<Body<EpochProposeOp>>({ nodeId: key32, epoch: c.uint, key: key32, replaces: key32 }),
  [OpType.SEED]: struct<Body<SeedOp>>({
    epoch: c.uint,
    entries: boundedArray(struct<SeedEntry>({ key: boundedString(MAX_SEED_KEY_BYTES), value: boundedBuffer(MAX_SEED_VALUE_BYTES) }), MAX_SEED_ENTRIES),
    done: c.bool
  }),
  [OpType.REBIND]: struct<Body<RebindOp>>({ nodeId: key32, writerKey: key32 }),
  [OpType.EVICT]: nodeRef,
  [OpType.INVITE_REVOKE]: struct<Body<InviteRevokeOp>>({ inviteId: key32 }),
  [OpType.FULL]: struct<Body<FullOp>>({ lamport: c.uint, nodeId: key32, full: c.bool }),
  [OpType.CLOUD_HOSTED]: struct<Body<CloudHostedOp>>({ lamport: c.uint, key: key32, base: key32, tokenHash: key32 }),
  [OpType.CLOUD_WRITER]: struct<Body<CloudWriterOp>>({ lamport: c.uint, key: key32, nodeId: key32, writerKey: key32 }),
  [OpType.CLOUD_DEVICE]: struct<Body<CloudDeviceOp>>({ lamport: c.uint, key: key32, device: key32, authorized: c.bool })
}

export const NO_INVITE: Buffer = Buffer.alloc(32)

const OPS = opFraming<Op>('op', OP_VERSION, BODY_CODECS as Readonly<Record<number, Codec<unknown>>>)

export function encodeOp (op: Op): Buffer {
  return OPS.encode(op)
}

/** Decodes one op. Anything malformed raises a BevyError and never anything else. */
export function decodeOp (bytes: unknown): Op {
  return OPS.decode(bytes)
}

export function opName (type: number): string {
  const entry = Object.entries(OpType).find(([, n]) => n === type)
  return entry === undefined ? `op-${type}` : entry[0].toLowerCase().replaceAll('_', '-')
}
