// Op schemas: round trips, append-only type numbers, and garbage that must fail with a typed error.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { BevyError, decodeOp, encodeOp, encodeRecord, EMPTY_LOAD, ErrorCode, MAX_PEER_MESSAGE_BYTES, NO_INVITE, OP_VERSION, OpType, HostedOpType, pingCodec, type Op } from '../protocol/index.js'

const id = randomBytes(32)
const samples: Op[] = [
  { type: OpType.ADD_WRITER, key: randomBytes(32), inviteId: NO_INVITE },
  { type: OpType.ANNOUNCE, lamport: 7, nodeId: id, url: 'http://127.0.0.1:7420', zone: 'eu-1', capacity: 2 ** 40 },
  { type: OpType.HEARTBEAT, nodeId: id, seq: 42, clockMs: 1_700_000_000_000, load: { ...EMPTY_LOAD, cpuPermille: 120, rssBytes: 80e6 } },
  { type: OpType.DRAIN, lamport: 3, nodeId: id },
  { type: OpType.UNDRAIN, lamport: 4, nodeId: id },
  { type: OpType.LEAVE, lamport: 5, nodeId: id },
  { type: OpType.INVITE, inviteId: randomBytes(32), publicKey: randomBytes(32), expiresMs: 1_800_000_000_000, uses: 2 },
  { type: OpType.CLOUD_ADD, lamport: 8, key: randomBytes(32), replicas: 3 },
  { type: OpType.CLOUD_REMOVE, lamport: 9, key: randomBytes(32) },
  { type: OpType.CLOUD_HOLD, lamport: 10, key: randomBytes(32), nodeId: id, held: true, synced: false },
  { type: OpType.CLOUD_PROGRESS, lamport: 11, key: randomBytes(32), nodeId: id, version: 7, blocksHad: 3, blocksTotal: 9, bytesHad: 100, bytesTotal: 2 ** 40, peers: 2 },
  { type: OpType.NEXT_WRITER, nodeId: id, epoch: 3, writerKey: randomBytes(32) },
  { type: OpType.EPOCH_PROPOSE, nodeId: id, epoch: 3, key: randomBytes(32), replaces: randomBytes(32) },
  { type: OpType.SEED, epoch: 3, entries: [{ key: 'cloud/ab', value: randomBytes(20) }, { key: 'node/cd', value: Buffer.alloc(0) }], done: true },
  { type: OpType.REBIND, nodeId: id, writerKey: randomBytes(32) },
  { type: OpType.EVICT, lamport: 12, nodeId: id },
  { type: OpType.INVITE_REVOKE, inviteId: randomBytes(32) },
  { type: OpType.FULL, lamport: 13, nodeId: id, full: true },
  { type: OpType.CLOUD_HOSTED, lamport: 14, key: randomBytes(32), base: randomBytes(32), tokenHash: randomBytes(32) },
  { type: OpType.CLOUD_WRITER, lamport: 15, key: randomBytes(32), nodeId: id, writerKey: randomBytes(32) },
  { type: OpType.CLOUD_DEVICE, lamport: 16, key: randomBytes(32), device: randomBytes(32), authorized: true }
]

test('every op type round-trips', () => {
  for (const op of samples) assert.deepEqual(decodeOp(encodeOp(op)), op)
})

test('type numbers are append-only: the ones already on disk keep their meaning', () => {
  assert.deepEqual({ ...OpType }, { ADD_WRITER: 1, ANNOUNCE: 2, HEARTBEAT: 3, DRAIN: 4, UNDRAIN: 5, LEAVE: 6, INVITE: 7, CLOUD_ADD: 8, CLOUD_REMOVE: 9, CLOUD_HOLD: 10, CLOUD_PROGRESS: 11, NEXT_WRITER: 12, EPOCH_PROPOSE: 13, SEED: 14, REBIND: 15, EVICT: 16, INVITE_REVOKE: 17, FULL: 18, CLOUD_HOSTED: 19, CLOUD_WRITER: 20, CLOUD_DEVICE: 21 })
  assert.deepEqual({ ...HostedOpType }, { PUT: 1, DELETE: 2, ADD_WRITER: 3, REMOVE_WRITER: 4 })
  assert.equal(encodeOp(samples[1] as Op)[0], OP_VERSION)
})

test('unknown versions and types raise typed errors', () => {
  assert.throws(() => decodeOp(Buffer.from([9, 1])), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.UNSUPPORTED_VERSION)
  assert.throws(() => decodeOp(Buffer.from([OP_VERSION, 99])), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.UNKNOWN_OP)
})

test('truncated, padded and non-byte input raise BAD_OP', () => {
  const bytes = encodeOp(samples[1] as Op)
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(() => decodeOp(bytes.subarray(0, cut)), (err: unknown) => err instanceof BevyError)
  }
  assert.throws(() => decodeOp(Buffer.concat([bytes, Buffer.from([0])])), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.BAD_OP)
  for (const value of [null, undefined, 'text', 42, {}, [1, 2]]) {
    assert.throws(() => decodeOp(value), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.BAD_OP)
  }
})

test('random garbage never throws anything but a BevyError', () => {
  for (let i = 0; i < 20_000; i++) {
    const garbage = randomBytes(1 + (i % 200))
    if (i % 3 === 0) garbage[0] = OP_VERSION
    if (i % 3 === 0 && garbage.length > 1) garbage[1] = 1 + (i % 10)
    try {
      decodeOp(garbage)
    } catch (err) {
      assert.ok(err instanceof BevyError, `non-typed error for ${garbage.toString('hex')}: ${String(err)}`)
    }
  }
})

test('oversized strings are refused on decode', () => {
  const op = { ...samples[1], url: 'http://x/' + 'a'.repeat(5000) } as Op
  assert.throws(() => decodeOp(encodeOp(op)), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.BAD_OP)
})

test('a peer message over MAX_PEER_MESSAGE_BYTES is refused before it is decoded', () => {
  const ok = encodeRecord(pingCodec, { seq: 1, load: EMPTY_LOAD })
  const padded = Buffer.concat([ok, Buffer.alloc(MAX_PEER_MESSAGE_BYTES)])
  assert.deepEqual(pingCodec.decode({ start: 0, end: ok.byteLength, buffer: ok }), { seq: 1, load: EMPTY_LOAD })
  assert.throws(() => pingCodec.decode({ start: 0, end: padded.byteLength, buffer: padded }), (err: unknown) => err instanceof BevyError && err.code === ErrorCode.BAD_OP)
})
