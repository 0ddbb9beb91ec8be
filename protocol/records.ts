// View records: what the cluster view (a Hyperbee) stores, and the keys it stores them under.
// Records that several writers may set carry (lamport, writer) so apply can resolve them
// last-writer-wins, which makes the view independent of the order ops were linearised in.
import c from 'compact-encoding'
import { BevyError, ErrorCode } from './errors.js'
import { hexKey } from './keys.js'
import { loadCodec, type Load } from './load.js'
import { boundedString, key32, struct, type Codec } from './struct.js'
import { MAX_URL_BYTES, MAX_ZONE_BYTES, syncProgressFields, type SyncProgress } from './ops.js'

/** Append only. */
export const NodeState = { ACTIVE: 0, LEFT: 1, EVICTED: 2 } as const
export type NodeState = typeof NodeState[keyof typeof NodeState]

/** A node that left or was evicted: it takes no replicas and is not a peer. */
export function isGone (state: NodeState): boolean {
  return state === NodeState.LEFT || state === NodeState.EVICTED
}

/** Last-writer-wins stamp: the higher lamport wins, ties go to the higher writer key. */
export interface Stamp { lamport: number, writer: Buffer }

export interface NodeRecord extends Stamp {
  nodeId: Buffer
  writerKey: Buffer
  url: string
  zone: string
  capacity: number
  state: NodeState
}

export interface DrainRecord extends Stamp { drained: boolean }

/** A node's own word that it takes no new replicas (its disk or its cloud cap is reached). */
export interface FullRecord extends Stamp { full: boolean }

export interface HeartbeatRecord { seq: number, clockMs: number, load: Load }

export interface WriterRecord { indexer: boolean, inviteId: Buffer }

export interface InviteRecord { publicKey: Buffer, expiresMs: number, uses: number }

export interface CloudRecord extends Stamp { replicas: number, removed: boolean }

/** A hosted cloud: its Autobase and the hash of its write token. */
export interface HostedRecord extends Stamp { base: Buffer, tokenHash: Buffer }
/** The writer key a node uses for a hosted cloud. */
export interface CloudWriterRecord extends Stamp { writerKey: Buffer }

/** Whether an owner device may write to a hosted cloud. */
export interface DeviceRecord extends Stamp { authorized: boolean }

export interface HoldRecord extends Stamp { held: boolean, synced: boolean }

export interface ProgressRecord extends Stamp, SyncProgress {}

/** The epoch this view belongs to; absent in epoch 0. Written by the seed's last op. */
export interface EpochRecord { epoch: number }
/** The next epoch, as proposed in this one. */
export interface ProposalRecord { epoch: number, key: Buffer, proposer: Buffer }
/** The writer key a node will use in `epoch`. */
export interface NextWriterRecord { epoch: number, writerKey: Buffer }

export const epochRecordCodec = struct<EpochRecord>({ epoch: c.uint })
export const proposalRecordCodec = struct<ProposalRecord>({ epoch: c.uint, key: key32, proposer: key32 })
export const nextWriterRecordCodec = struct<NextWriterRecord>({ epoch: c.uint, writerKey: key32 })

export const nodeRecordCodec = struct<NodeRecord>({
  lamport: c.uint,
  writer: key32,
  nodeId: key32,
  writerKey: key32,
  url: boundedString(MAX_URL_BYTES),
  zone: boundedString(MAX_ZONE_BYTES),
  capacity: c.uint,
  state: c.uint as Codec<NodeState>
})
export const drainRecordCodec = struct<DrainRecord>({ lamport: c.uint, writer: key32, drained: c.bool })
export const fullRecordCodec = struct<FullRecord>({ lamport: c.uint, writer: key32, full: c.bool })
export const heartbeatRecordCodec = struct<HeartbeatRecord>({ seq: c.uint, clockMs: c.uint, load: loadCodec })
export const writerRecordCodec = struct<WriterRecord>({ indexer: c.bool, inviteId: key32 })
export const inviteRecordCodec = struct<InviteRecord>({ publicKey: key32, expiresMs: c.uint, uses: c.uint })
export const cloudRecordCodec = struct<CloudRecord>({ lamport: c.uint, writer: key32, replicas: c.uint, removed: c.bool })
export const hostedRecordCodec = struct<HostedRecord>({ lamport: c.uint, writer: key32, base: key32, tokenHash: key32 })
export const cloudWriterRecordCodec = struct<CloudWriterRecord>({ lamport: c.uint, writer: key32, writerKey: key32 })
export const deviceRecordCodec = struct<DeviceRecord>({ lamport: c.uint, writer: key32, authorized: c.bool })
export const holdRecordCodec = struct<HoldRecord>({ lamport: c.uint, writer: key32, held: c.bool, synced: c.bool })
export const progressRecordCodec = struct<ProgressRecord>({ lamport: c.uint, writer: key32, ...syncProgressFields })

export function encodeRecord<T> (codec: Codec<T>, value: T): Buffer {
  return c.encode(codec, value) as Buffer
}

export function decodeRecord<T> (codec: Codec<T>, bytes: Uint8Array): T {
  try {
    // As in decodeOp: keys decode as views of the input, so make it a Buffer.
    return c.decode(codec, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  } catch (err) {
    throw new BevyError(ErrorCode.BAD_OP, 'view record is malformed', { cause: err })
  }
}

/** True when stamp `a` wins over stamp `b`. */
export function stampWins (a: Stamp, b: Stamp): boolean {
  if (a.lamport !== b.lamport) return a.lamport > b.lamport
  return Buffer.compare(a.writer, b.writer) > 0
}

/** Key layout of the view. Prefixes end in '/' so a range scan never bleeds into a sibling. */
export const ViewKey = {
  node: (id: Uint8Array) => `node/${hexKey(id)}`,
  nodePrefix: 'node/',
  drain: (id: Uint8Array) => `drain/${hexKey(id)}`,
  drainPrefix: 'drain/',
  heartbeat: (id: Uint8Array) => `hb/${hexKey(id)}`,
  heartbeatPrefix: 'hb/',
  writer: (key: Uint8Array) => `writer/${hexKey(key)}`,
  writerPrefix: 'writer/',
  invite: (id: Uint8Array) => `invite/${hexKey(id)}`,
  inviteUse: (id: Uint8Array, writer: Uint8Array) => `invite-use/${hexKey(id)}/${hexKey(writer)}`,
  inviteUsePrefix: (id: Uint8Array) => `invite-use/${hexKey(id)}/`,
  cloud: (key: Uint8Array) => `cloud/${hexKey(key)}`,
  cloudPrefix: 'cloud/',
  hold: (cloud: Uint8Array, node: Uint8Array) => `hold/${hexKey(cloud)}/${hexKey(node)}`,
  holdPrefix: 'hold/',
  progress: (cloud: Uint8Array, node: Uint8Array) => `sync/${hexKey(cloud)}/${hexKey(node)}`,
  progressPrefix: 'sync/',
  epoch: 'epoch/current',
  proposal: 'epoch/next',
  nextWriter: (node: Uint8Array) => `next-writer/${hexKey(node)}`,
  nextWriterPrefix: 'next-writer/',
  /** Marks a writer key of an evicted node: apply ignores every op it writes. */
  evictedWriter: (key: Uint8Array) => `evicted/${hexKey(key)}`,
  inviteRevoked: (id: Uint8Array) => `invite-revoked/${hexKey(id)}`,
  full: (id: Uint8Array) => `full/${hexKey(id)}`,
  fullPrefix: 'full/',
  hosted: (cloud: Uint8Array) => `hosted/${hexKey(cloud)}`,
  hostedPrefix: 'hosted/',
  cloudWriter: (cloud: Uint8Array, node: Uint8Array) => `cloud-writer/${hexKey(cloud)}/${hexKey(node)}`,
  cloudWriterPrefix: 'cloud-writer/',
  cloudDevice: (cloud: Uint8Array, device: Uint8Array) => `cloud-device/${hexKey(cloud)}/${hexKey(device)}`,
  cloudDevicePrefix: 'cloud-device/'
} as const

/**
 * The durable state a new epoch carries over, by key prefix. Writers are re-admitted by the seed
 * itself; proposals and next writers belong to the epoch they were made in.
 */
export const SEEDED_PREFIXES: readonly string[] = [
  ViewKey.nodePrefix, ViewKey.drainPrefix, ViewKey.heartbeatPrefix, ViewKey.fullPrefix, 'invite/', 'invite-use/', 'invite-revoked/',
  ViewKey.cloudPrefix, ViewKey.holdPrefix, ViewKey.progressPrefix, ViewKey.hostedPrefix, ViewKey.cloudWriterPrefix, ViewKey.cloudDevicePrefix
]

/** The exclusive upper bound for a range scan over `prefix`. */
export function prefixEnd (prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}
