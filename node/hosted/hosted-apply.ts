// Applies a hosted cloud's ops to its file index. Pure: no clock, no randomness, no I/O beyond
// the ViewStore and WriterHost ports. A path goes to the write with the highest (clock, writer),
// and a delete is a tombstone in that same contest, so replicas that hold the same ops agree
// on every path whatever order Autobase linearised them in. Malformed or unauthorised ops are
// skipped, never thrown.
import {
  BevyError, decodeHostedOp, decodeRecord, encodeRecord, fileRecordCodec, fileWins, HostedKey, HostedOpType, hostedWriterRecordCodec,
  isBevyError, MAX_LAMPORT, normalHostedPath, type FileRecord, type HostedOp, type HostedWriterRecord
} from '../../protocol/index.js'
import type { ViewStore, WriterHost } from '../view/view-store.js'

export interface HostedApplyContext {
  /** The cloud's bootstrap writer (the node that created it): a replica writer without a record. */
  bootstrapKey: () => Buffer
  /** Called with every clock seen, so this replica's next write goes after it. */
  onClock?: (clock: number) => void
  /** Called for every file write applied: the blob blocks a complete replica must hold. */
  onBlob?: (blobCore: Buffer, blockEnd: number) => void
  onSkip?: (reason: string, from: Buffer) => void
}

export interface HostedInputNode { value: unknown, from: { key: Buffer } }

/** Applies a batch of raw Autobase nodes. Null values are Autobase acks and carry nothing. */
export async function applyHostedNodes (nodes: HostedInputNode[], store: ViewStore, host: WriterHost, ctx: HostedApplyContext): Promise<void> {
  for (const node of nodes) {
    if (node.value === null) continue
    const reason = await applyHostedRaw(node.value, node.from.key, store, host, ctx)
    if (reason !== null) ctx.onSkip?.(reason, node.from.key)
  }
}

/** Applies one op; returns why it was skipped, or null when it was applied. */
export async function applyHostedRaw (bytes: unknown, from: Buffer, store: ViewStore, host: WriterHost, ctx: HostedApplyContext): Promise<string | null> {
  let op: HostedOp
  try {
    op = decodeHostedOp(bytes)
  } catch (err) {
    if (isBevyError(err)) return `${err.code}: ${err.message}`
    throw err
  }
  try {
    switch (op.type) {
      case HostedOpType.PUT:
      case HostedOpType.DELETE: return await applyFile(op, from, store, ctx)
      case HostedOpType.ADD_WRITER: return await applyAddWriter(op.key, op.device, op.nodeId, from, store, host, ctx)
      case HostedOpType.REMOVE_WRITER: return await applyRemoveWriter(op.key, from, store, host, ctx)
    }
  } catch (err) {
    if (err instanceof BevyError) return err.message
    throw err
  }
}

async function applyFile (op: Extract<HostedOp, { type: 1 | 2 }>, from: Buffer, store: ViewStore, ctx: HostedApplyContext): Promise<string | null> {
  const path = normalHostedPath(op.path)
  if (path === null) return 'file: bad path'
  // As for the cluster log's stamps: a clock near 2^53 would win its path for good and push every
  // writer's clock past what compact-encoding can encode, so no one could write to the cloud again.
  if (op.clock > MAX_LAMPORT) return `file: clock ${op.clock} is beyond ${MAX_LAMPORT}`
  ctx.onClock?.(op.clock)
  const next: FileRecord = op.type === HostedOpType.PUT
    ? { clock: op.clock, writer: from, deleted: false, blobCore: op.blobCore, blockOffset: op.blockOffset, blockLength: op.blockLength, byteOffset: op.byteOffset, byteLength: op.byteLength, mtimeMs: op.mtimeMs, sha256: op.sha256 }
    : { clock: op.clock, writer: from, deleted: true, blobCore: ZERO_KEY, blockOffset: 0, blockLength: 0, byteOffset: 0, byteLength: 0, mtimeMs: 0, sha256: ZERO_KEY }
  if (!next.deleted) ctx.onBlob?.(next.blobCore, next.blockOffset + next.blockLength)
  const encoded = encodeRecord(fileRecordCodec, next)
  // Into the path's history whether it wins or not: the history is the same set on every replica.
  await store.put(HostedKey.write(path, next.clock, next.writer), encoded)
  const existing = await store.get(path)
  const current = existing === null ? null : decodeRecord(fileRecordCodec, existing)
  if (current !== null && current.clock === next.clock && current.writer.equals(next.writer)) return 'file: already applied'
  if (current !== null && !fileWins(next, current)) return 'file: a later write holds the path (kept in its history)'
  await store.put(path, encoded)
  return null
}

/** A writer's record: null for none (or removed); the bootstrap writer is a replica writer until removed. */
async function liveWriter (key: Buffer, store: ViewStore, ctx: HostedApplyContext): Promise<HostedWriterRecord | null> {
  const stored = await store.get(HostedKey.writer(key))
  if (stored === null) return key.equals(ctx.bootstrapKey()) ? { device: false, nodeId: ZERO_KEY } : null
  return isLiveWriterRecord(stored) ? decodeRecord(hostedWriterRecordCodec, stored) : null
}

/** Only replica writers manage writers; an owner device may only write files. */
async function mayManageWriters (from: Buffer, store: ViewStore, ctx: HostedApplyContext): Promise<boolean> {
  const writer = await liveWriter(from, store, ctx)
  return writer !== null && !writer.device
}

async function applyAddWriter (key: Buffer, device: boolean, nodeId: Buffer, from: Buffer, store: ViewStore, host: WriterHost, ctx: HostedApplyContext): Promise<string | null> {
  if (!await mayManageWriters(from, store, ctx)) return 'add-writer: only a replica writer may'
  if (await liveWriter(key, store, ctx) !== null) return 'add-writer: already a writer'
  // Replicas index (so the cloud's order settles while any majority of them is up); devices only write.
  await host.addWriter(key, { indexer: !device })
  await store.put(HostedKey.writer(key), encodeRecord(hostedWriterRecordCodec, { device, nodeId: device ? ZERO_KEY : nodeId }))
  return null
}

async function applyRemoveWriter (key: Buffer, from: Buffer, store: ViewStore, host: WriterHost, ctx: HostedApplyContext): Promise<string | null> {
  if (!await mayManageWriters(from, store, ctx)) return 'remove-writer: only a replica writer may'
  if (await liveWriter(key, store, ctx) === null) return 'remove-writer: not a writer'
  // Autobase keeps the last indexer; then the writer simply stays.
  if (!await host.removeWriter(key)) return 'remove-writer: the last indexer stays'
  await store.put(HostedKey.writer(key), TOMBSTONE)
  return null
}

/** A writer record's tombstone: the empty value (a Hyperbee here keeps no deletes, by design). */
const TOMBSTONE = Buffer.alloc(0)
const ZERO_KEY = Buffer.alloc(32)

/** True when a stored writer record is a live writer (not the tombstone of a removed one). */
export function isLiveWriterRecord (value: Buffer | null): value is Buffer {
  return value !== null && value.byteLength > 0
}
