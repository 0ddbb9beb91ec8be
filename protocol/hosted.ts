// Hosted clouds: the ops writers append to a hosted cloud's own Autobase, and the records of its
// view, a Hyperbee file index. Each op is  version (uint) · type (uint) · body.
// Type numbers are APPEND ONLY, as for the cluster log's ops.
import c from 'compact-encoding'
import { boundedString, key32, struct, type Codec } from './struct.js'
import { opFraming } from './versioned-ops.js'

export const HOSTED_OP_VERSION = 1

/** Append only. */
export const HostedOpType = {
  PUT: 1,
  DELETE: 2,
  ADD_WRITER: 3,
  REMOVE_WRITER: 4
} as const
export type HostedOpType = typeof HostedOpType[keyof typeof HostedOpType]

/** Longest file path a hosted cloud takes, in bytes. */
export const MAX_HOSTED_PATH_BYTES = 4096

/** Where a file's bytes are: a range of one writer's blob core (a Hyperblobs id plus the core). */
export interface BlobRef {
  blobCore: Buffer
  blockOffset: number
  blockLength: number
  byteOffset: number
  byteLength: number
}

/**
 * A file written. `clock` is the writer's logical clock for this cloud: the higher (clock,
 * writer key) wins a path, so every replica picks the same winner whatever the order.
 */
export interface HostedPutOp extends BlobRef { type: typeof HostedOpType.PUT, clock: number, path: string, mtimeMs: number, sha256: Buffer }
export interface HostedDeleteOp { type: typeof HostedOpType.DELETE, clock: number, path: string }
/** Admits a writer: a replica node's writer (`device` false, `nodeId` set) or an owner device. */
export interface HostedAddWriterOp { type: typeof HostedOpType.ADD_WRITER, key: Buffer, device: boolean, nodeId: Buffer }
export interface HostedRemoveWriterOp { type: typeof HostedOpType.REMOVE_WRITER, key: Buffer }

export type HostedOp = HostedPutOp | HostedDeleteOp | HostedAddWriterOp | HostedRemoveWriterOp
type Body<T extends HostedOp> = Omit<T, 'type'>

const path = boundedString(MAX_HOSTED_PATH_BYTES)
const blobFields = { blobCore: key32, blockOffset: c.uint, blockLength: c.uint, byteOffset: c.uint, byteLength: c.uint }

const BODY_CODECS: { [K in HostedOpType]: Codec<Body<Extract<HostedOp, { type: K }>>> } = {
  [HostedOpType.PUT]: struct<Body<HostedPutOp>>({ clock: c.uint, path, ...blobFields, mtimeMs: c.uint, sha256: key32 }),
  [HostedOpType.DELETE]: struct<Body<HostedDeleteOp>>({ clock: c.uint, path }),
  [HostedOpType.ADD_WRITER]: struct<Body<HostedAddWriterOp>>({ key: key32, device: c.bool, nodeId: key32 }),
  [HostedOpType.REMOVE_WRITER]: struct<Body<HostedRemoveWriterOp>>({ key: key32 })
}

const HOSTED_OPS = opFraming<HostedOp>('hosted op', HOSTED_OP_VERSION, BODY_CODECS as Readonly<Record<number, Codec<unknown>>>)

export function encodeHostedOp (op: HostedOp): Buffer {
  return HOSTED_OPS.encode(op)
}

/** Decodes one hosted op. Anything malformed raises a BevyError and never anything else. */
export function decodeHostedOp (bytes: unknown): HostedOp {
  return HOSTED_OPS.decode(bytes)
}

/** A path's current state in the index: the winning write, or a tombstone (`deleted`, no bytes). */
export interface FileRecord extends BlobRef {
  clock: number
  writer: Buffer
  deleted: boolean
  mtimeMs: number
  sha256: Buffer
}

export interface HostedWriterRecord { device: boolean, nodeId: Buffer }

export const fileRecordCodec = struct<FileRecord>({
  clock: c.uint, writer: key32, deleted: c.bool, ...blobFields, mtimeMs: c.uint, sha256: key32
})
export const hostedWriterRecordCodec = struct<HostedWriterRecord>({ device: c.bool, nodeId: key32 })

/**
 * Key layout of a hosted cloud's view. File paths start with '/', the bookkeeping with '!',
 * which sorts before '/', so a scan of the files never meets it.
 */
export const HostedKey = {
  filesStart: '/',
  filesEnd: '0', // the character after '/'
  writer: (key: Uint8Array) => `!w/${Buffer.from(key).toString('hex')}`,
  writerPrefix: '!w/',
  /**
   * Every write of a path, winner or not, by (clock, writer): the path's history, kept as view
   * state (not as the view's versions, which Autobase may rebuild), so every replica holds the
   * same set. Paths hold no NUL, so `\0` ends the path part and one path never scans into another.
   */
  write: (path: string, clock: number, writer: Uint8Array) => `!h${path}\0${clock.toString(16).padStart(13, '0')}/${Buffer.from(writer).toString('hex')}`,
  writesOf: (path: string) => `!h${path}\0`,
  writesEnd: (path: string) => `!h${path}\u0001`
} as const

/** A write's id in the HTTP API: `<clock>-<writer hex>`. */
export function writeId (clock: number, writer: Buffer): string {
  return `${clock}-${writer.toString('hex')}`
}

/** The (clock, writer) a write id names, or null if it names none. */
export function parseWriteId (id: string): { clock: number, writer: Buffer } | null {
  const match = /^([0-9]{1,15})-([0-9a-f]{64})$/.exec(id)
  return match === null ? null : { clock: Number(match[1]), writer: Buffer.from(match[2] as string, 'hex') }
}

/** True when (clockA, writerA) beats (clockB, writerB). */
export function fileWins (a: { clock: number, writer: Buffer }, b: { clock: number, writer: Buffer }): boolean {
  if (a.clock !== b.clock) return a.clock > b.clock
  return Buffer.compare(a.writer, b.writer) > 0
}

/** A file path as the index keeps it: '/'-led, no empty, '.' or '..' segment, no trailing '/'; null if not one. */
export function normalHostedPath (p: string): string | null {
  if (!p.startsWith('/') || p.length < 2 || p.endsWith('/') || Buffer.byteLength(p) > MAX_HOSTED_PATH_BYTES) return null
  if (p.includes('\0')) return null
  for (const segment of p.slice(1).split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return null
  }
  return p
}

/** What an owner device signs to write over HTTP: each part of the write a node acts on. */
export interface SignedWrite {
  method: 'PUT' | 'DELETE'
  /** The cloud key. */
  cloud: Buffer
  path: string
  /** SHA-256 of the body (PUT), or null (DELETE). */
  sha256: Buffer | null
  /** The device's clock when it signed, so a captured request stops working soon after. */
  timeMs: number
}

/** The bytes an owner device signs (ed25519, with its writer core's key pair) for a write over HTTP. */
export function signedWriteMessage (w: SignedWrite): Buffer {
  return Buffer.from(['cloud-bevy/signed-write/v1', w.method, w.cloud.toString('hex'), w.path, w.sha256?.toString('hex') ?? '-', String(w.timeMs)].join('\n'))
}
