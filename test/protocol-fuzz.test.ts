// Fuzzing what peers and disks hand us (fast-check, fixed seed, bounded runs; a failure prints the
// seed and path that replay it). Every protocol decoder returns a value that re-encodes to itself
// or throws a BevyError, and nothing else; apply never throws, leaves only well-formed records,
// ignores garbage, and builds one view from the same ops in any interleaving of their writers.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { applyNodes, type ApplyContext, type InputNode } from '../node/view/apply.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import * as protocol from '../protocol/index.js'
import * as wire from '../protocol/ping.js'
import {
  BevyError, boundedArray, boundedBuffer, boundedString, decodeOp, decodeRecord, encodeOp, encodeRecord, ErrorCode, formatKey,
  hexKey, key32, loadCodec, MAX_REPLICAS, MAX_URL_BYTES, MAX_ZONE_BYTES, NO_INVITE, NodeState, OP_VERSION, OpType, opName, parseDuration,
  parseKey, SEEDED_PREFIXES, struct, ViewKey, parseWriteId, writeId, MAX_LAMPORT,
  cloudRecordCodec, drainRecordCodec, fullRecordCodec, epochAdvertCodec, epochRecordCodec, heartbeatRecordCodec, holdRecordCodec, inviteRecordCodec,
  joinEpochCodec, nextWriterRecordCodec, nodeRecordCodec, pingCodec, progressRecordCodec, proposalRecordCodec, writerRecordCodec,
  cloudWriterRecordCodec, decodeHostedOp, deviceRecordCodec, encodeHostedOp, fileRecordCodec, HOSTED_OP_VERSION, HostedOpType, hostedRecordCodec,
  hostedWriterRecordCodec, MAX_HOSTED_PATH_BYTES,
  type Codec, type HostedOp, type Load, type Op, type SeedEntry
} from '../protocol/index.js'
import { dump, hostFor, node } from './view-fixtures.js'

// Fixed, so every run checks the same cases; BEVY_FUZZ_SEED and BEVY_FUZZ_SCALE explore further by hand.
const SEED = Number(process.env.BEVY_FUZZ_SEED ?? 20_250_609)
const SCALE = Number(process.env.BEVY_FUZZ_SCALE ?? 1)
const runs = (numRuns: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)), includeErrorInReport: true })

// ---- values ----------------------------------------------------------------------------------

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b))
/** Integers of every varint width, up to the largest a decoder accepts. */
const uint = fc.oneof(fc.nat(300), fc.nat(0xffff_ffff), fc.maxSafeNat())
/** Any code points, at most `maxBytes` of UTF-8. */
const text = (maxBytes: number) => fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4) })

const loadOf = (n: fc.Arbitrary<number>): fc.Arbitrary<Load> =>
  fc.record({ cpuPermille: n, memPermille: n, eventLoopPermille: n, rssBytes: n, memFreeBytes: n, connections: n })
const progressOf = (n: fc.Arbitrary<number>) => ({ version: n, blocksHad: n, blocksTotal: n, bytesHad: n, bytesTotal: n, peers: n })
const blobRefOf = (key: fc.Arbitrary<Buffer>, n: fc.Arbitrary<number>) => ({ blobCore: key, blockOffset: n, blockLength: n, byteOffset: n, byteLength: n })

/** A valid value of every view record, with keys and numbers drawn from the given pools. */
function recordArbs (key: fc.Arbitrary<Buffer>, n: fc.Arbitrary<number>) {
  const stamp = { lamport: n, writer: key }
  return {
    node: fc.record({
      ...stamp, nodeId: key, writerKey: key, url: text(MAX_URL_BYTES), zone: text(MAX_ZONE_BYTES), capacity: n, state: fc.constantFrom(...Object.values(NodeState))
    }),
    drain: fc.record({ ...stamp, drained: fc.boolean() }),
    full: fc.record({ ...stamp, full: fc.boolean() }),
    heartbeat: fc.record({ seq: n, clockMs: n, load: loadOf(n) }),
    writer: fc.record({ indexer: fc.boolean(), inviteId: key }),
    invite: fc.record({ publicKey: key, expiresMs: n, uses: n }),
    cloud: fc.record({ ...stamp, replicas: n, removed: fc.boolean() }),
    hold: fc.record({ ...stamp, held: fc.boolean(), synced: fc.boolean() }),
    progress: fc.record({ ...stamp, ...progressOf(n) }),
    epoch: fc.record({ epoch: n }),
    proposal: fc.record({ epoch: n, key, proposer: key }),
    nextWriter: fc.record({ epoch: n, writerKey: key }),
    hosted: fc.record({ ...stamp, base: key, tokenHash: key }),
    cloudWriter: fc.record({ ...stamp, writerKey: key }),
    device: fc.record({ ...stamp, authorized: fc.boolean() }),
    // A hosted cloud's own view (protocol/hosted.ts).
    file: fc.record({ clock: n, writer: key, deleted: fc.boolean(), ...blobRefOf(key, n), mtimeMs: n, sha256: key }),
    hostedWriter: fc.record({ device: fc.boolean(), nodeId: key })
  }
}

// ---- pools: few keys, so ops collide, race and conflict --------------------------------------

/** `n` distinct keys, printed by name in counterexamples (writer0, node2, ...). */
const pool = (name: string, fill: number, n: number): Buffer[] => Array.from({ length: n }, (_, i) =>
  Object.defineProperty(Buffer.alloc(32, fill + i), fc.toStringMethod, { value: () => `${name}${i}` }))
/** Admitted before anything else; every op comes from one of them. */
const WRITERS = pool('writer', 0x10, 4)
/** Keys that may be admitted or bound to a node, but never write. */
const OUTSIDERS = pool('outsider', 0x20, 2)
const NODE_IDS = pool('node', 0x30, 4)
const CLOUDS = pool('cloud', 0x40, 3)
const INVITES = pool('invite', 0x50, 2)
/** Hosted clouds' own Autobases and token hashes. */
const BASES = pool('base', 0x60, 2)
const TOKENS = pool('token', 0x70, 2)
/** Owner devices' writer keys for hosted clouds. */
const DEVICES = pool('device', 0x80, 2)
const BOOTSTRAP = WRITERS[0] as Buffer
/** The writer key a seeded node record carries until its node is rebound (node/epoch-seed.ts). */
const UNBOUND = Buffer.alloc(32)

const small = fc.nat(12)
const writerKey = fc.constantFrom(...WRITERS, ...OUTSIDERS)
const nodeId = fc.constantFrom(...NODE_IDS)
const cloudKey = fc.constantFrom(...CLOUDS)
const inviteId = fc.constantFrom(...INVITES)
const baseKey = fc.constantFrom(...BASES)
const tokenHash = fc.constantFrom(...TOKENS)
const deviceKey = fc.constantFrom(...DEVICES)
const anyPoolKey = fc.constantFrom(...WRITERS, ...OUTSIDERS, ...NODE_IDS, ...CLOUDS, ...INVITES, UNBOUND)
const pooled = recordArbs(anyPoolKey, small)

/**
 * One durable record a seed may carry, under a key whose ids agree with it. Well-formed only:
 * apply checks a seed's keys but takes its values on trust from the bootstrap writer.
 */
const SEED_ENTRIES: Record<string, fc.Arbitrary<SeedEntry>> = {
  [ViewKey.nodePrefix]: fc.tuple(nodeId, pooled.node, fc.constantFrom(...WRITERS, UNBOUND)).map(([id, record, bound]) =>
    ({ key: ViewKey.node(id), value: encodeRecord(nodeRecordCodec, { ...record, nodeId: id, writerKey: bound }) })),
  [ViewKey.drainPrefix]: fc.tuple(nodeId, pooled.drain).map(([id, r]) => ({ key: ViewKey.drain(id), value: encodeRecord(drainRecordCodec, r) })),
  [ViewKey.fullPrefix]: fc.tuple(nodeId, pooled.full).map(([id, r]) => ({ key: ViewKey.full(id), value: encodeRecord(fullRecordCodec, r) })),
  [ViewKey.heartbeatPrefix]: fc.tuple(nodeId, pooled.heartbeat).map(([id, r]) => ({ key: ViewKey.heartbeat(id), value: encodeRecord(heartbeatRecordCodec, r) })),
  'invite/': fc.tuple(inviteId, pooled.invite).map(([id, r]) => ({ key: ViewKey.invite(id), value: encodeRecord(inviteRecordCodec, r) })),
  'invite-use/': fc.tuple(inviteId, writerKey).map(([id, w]) => ({ key: ViewKey.inviteUse(id, w), value: Buffer.alloc(0) })),
  'invite-revoked/': inviteId.map((id) => ({ key: ViewKey.inviteRevoked(id), value: Buffer.alloc(0) })),
  [ViewKey.cloudPrefix]: fc.tuple(cloudKey, pooled.cloud).map(([k, r]) => ({ key: ViewKey.cloud(k), value: encodeRecord(cloudRecordCodec, { ...r, replicas: Math.min(r.replicas, MAX_REPLICAS) }) })),
  [ViewKey.holdPrefix]: fc.tuple(cloudKey, nodeId, pooled.hold).map(([k, id, r]) => ({ key: ViewKey.hold(k, id), value: encodeRecord(holdRecordCodec, r) })),
  [ViewKey.progressPrefix]: fc.tuple(cloudKey, nodeId, pooled.progress).map(([k, id, r]) => ({ key: ViewKey.progress(k, id), value: encodeRecord(progressRecordCodec, r) })),
  // Bases from the pool CLOUD_HOSTED ops draw from, so a seeded cloud is rotated as often as it refuses another base.
  [ViewKey.hostedPrefix]: fc.tuple(cloudKey, pooled.hosted, baseKey).map(([k, r, base]) => ({ key: ViewKey.hosted(k), value: encodeRecord(hostedRecordCodec, { ...r, base }) })),
  [ViewKey.cloudWriterPrefix]: fc.tuple(cloudKey, nodeId, pooled.cloudWriter).map(([k, id, r]) => ({ key: ViewKey.cloudWriter(k, id), value: encodeRecord(cloudWriterRecordCodec, r) })),
  [ViewKey.cloudDevicePrefix]: fc.tuple(cloudKey, deviceKey, pooled.device).map(([k, d, r]) => ({ key: ViewKey.cloudDevice(k, d), value: encodeRecord(deviceRecordCodec, r) })),
  // Not durable state: a seed carrying it is refused whole.
  [ViewKey.writerPrefix]: fc.tuple(writerKey, pooled.writer).map(([k, r]) => ({ key: ViewKey.writer(k), value: encodeRecord(writerRecordCodec, r) }))
}

const URLS = ['http://a:1', 'http://b:2', '', 'u'.repeat(MAX_URL_BYTES)]

/** A well-formed op of every type. Typed by OpType, so a new op type fails to compile here until it is fuzzed. */
const OP_ARBS: { [K in OpType]: fc.Arbitrary<Extract<Op, { type: K }>> } = {
  [OpType.ADD_WRITER]: fc.record({ type: fc.constant(OpType.ADD_WRITER), key: writerKey, inviteId: fc.constantFrom(NO_INVITE, ...INVITES) }),
  [OpType.ANNOUNCE]: fc.record({
    type: fc.constant(OpType.ANNOUNCE), lamport: small, nodeId, url: fc.constantFrom(...URLS), zone: fc.constantFrom('z1', 'z2', ''), capacity: uint
  }),
  [OpType.HEARTBEAT]: fc.record({ type: fc.constant(OpType.HEARTBEAT), nodeId, seq: small, clockMs: uint, load: loadOf(fc.nat(1000)) }),
  [OpType.DRAIN]: fc.record({ type: fc.constant(OpType.DRAIN), lamport: small, nodeId }),
  [OpType.UNDRAIN]: fc.record({ type: fc.constant(OpType.UNDRAIN), lamport: small, nodeId }),
  [OpType.LEAVE]: fc.record({ type: fc.constant(OpType.LEAVE), lamport: small, nodeId }),
  [OpType.INVITE]: fc.record({ type: fc.constant(OpType.INVITE), inviteId, publicKey: bytes32, expiresMs: uint, uses: fc.nat(3) }),
  [OpType.CLOUD_ADD]: fc.record({ type: fc.constant(OpType.CLOUD_ADD), lamport: small, key: cloudKey, replicas: fc.nat(MAX_REPLICAS + 1) }),
  [OpType.CLOUD_REMOVE]: fc.record({ type: fc.constant(OpType.CLOUD_REMOVE), lamport: small, key: cloudKey }),
  [OpType.CLOUD_HOLD]: fc.record({ type: fc.constant(OpType.CLOUD_HOLD), lamport: small, key: cloudKey, nodeId, held: fc.boolean(), synced: fc.boolean() }),
  [OpType.CLOUD_PROGRESS]: fc.record({ type: fc.constant(OpType.CLOUD_PROGRESS), lamport: small, key: cloudKey, nodeId, ...progressOf(small) }),
  [OpType.NEXT_WRITER]: fc.record({ type: fc.constant(OpType.NEXT_WRITER), nodeId, epoch: fc.nat(3), writerKey }),
  [OpType.EPOCH_PROPOSE]: fc.record({ type: fc.constant(OpType.EPOCH_PROPOSE), nodeId, epoch: fc.nat(3), key: cloudKey, replaces: fc.constantFrom(UNBOUND, ...CLOUDS) }),
  [OpType.SEED]: fc.record({
    type: fc.constant(OpType.SEED), epoch: fc.nat(3), entries: fc.array(fc.oneof(...Object.values(SEED_ENTRIES)), { maxLength: 6 }), done: fc.boolean()
  }),
  [OpType.REBIND]: fc.record({ type: fc.constant(OpType.REBIND), nodeId, writerKey }),
  [OpType.EVICT]: fc.record({ type: fc.constant(OpType.EVICT), lamport: small, nodeId }),
  [OpType.INVITE_REVOKE]: fc.record({ type: fc.constant(OpType.INVITE_REVOKE), inviteId }),
  [OpType.FULL]: fc.record({ type: fc.constant(OpType.FULL), lamport: small, nodeId, full: fc.boolean() }),
  [OpType.CLOUD_HOSTED]: fc.record({ type: fc.constant(OpType.CLOUD_HOSTED), lamport: small, key: cloudKey, base: baseKey, tokenHash }),
  [OpType.CLOUD_WRITER]: fc.record({ type: fc.constant(OpType.CLOUD_WRITER), lamport: small, key: cloudKey, nodeId, writerKey }),
  [OpType.CLOUD_DEVICE]: fc.record({ type: fc.constant(OpType.CLOUD_DEVICE), lamport: small, key: cloudKey, device: deviceKey, authorized: fc.boolean() })
}
const opArb: fc.Arbitrary<Op> = fc.oneof(...Object.values(OP_ARBS) as Array<fc.Arbitrary<Op>>)

/** A well-formed op of every hosted-cloud op type (typed by HostedOpType like OP_ARBS), with any keys and numbers. */
const HOSTED_OP_ARBS: { [K in HostedOpType]: fc.Arbitrary<Extract<HostedOp, { type: K }>> } = {
  [HostedOpType.PUT]: fc.record({
    type: fc.constant(HostedOpType.PUT), clock: uint, path: text(MAX_HOSTED_PATH_BYTES), ...blobRefOf(bytes32, uint), mtimeMs: uint, sha256: bytes32
  }),
  [HostedOpType.DELETE]: fc.record({ type: fc.constant(HostedOpType.DELETE), clock: uint, path: text(MAX_HOSTED_PATH_BYTES) }),
  [HostedOpType.ADD_WRITER]: fc.record({ type: fc.constant(HostedOpType.ADD_WRITER), key: bytes32, device: fc.boolean(), nodeId: bytes32 }),
  [HostedOpType.REMOVE_WRITER]: fc.record({ type: fc.constant(HostedOpType.REMOVE_WRITER), key: bytes32 })
}
const hostedOpArb: fc.Arbitrary<HostedOp> = fc.oneof(...Object.values(HOSTED_OP_ARBS) as Array<fc.Arbitrary<HostedOp>>)

// ---- byte mutations --------------------------------------------------------------------------

/** Length and count prefixes no decoder may take at their word: 64 KiB, 256 MiB, 4 GiB, 2^50, 2^53-1, 2^64-1. */
const HUGE_VARINTS: readonly number[][] = [
  [0xfd, 0xff, 0xff],
  [0xfe, 0, 0, 0, 0x10],
  [0xfe, 0xff, 0xff, 0xff, 0xff],
  [0xff, 0, 0, 0, 0, 0, 0, 4, 0],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
]
const hugeVarint = fc.constantFrom(...HUGE_VARINTS).map((b) => Uint8Array.from(b))

type Mutation =
  | { kind: 'truncate', at: number }
  | { kind: 'flip', at: number, bit: number }
  | { kind: 'append', extra: Uint8Array }
  | { kind: 'insert', at: number, extra: Uint8Array }
  | { kind: 'overwrite', at: number, extra: Uint8Array }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), extra: fc.oneof(hugeVarint, fc.uint8Array({ minLength: 1, maxLength: 16 })) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), extra: hugeVarint })
)

function mutate (bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = 'at' in m ? m.at % (bytes.length + 1) : bytes.length
  switch (m.kind) {
    case 'truncate': return bytes.slice(0, at)
    case 'flip': {
      const out = bytes.slice()
      if (out.length > 0) out[at % out.length] = (out[at % out.length] as number) ^ (1 << m.bit)
      return out
    }
    case 'append': return concat(bytes, m.extra)
    case 'insert': return concat(bytes.subarray(0, at), m.extra, bytes.subarray(at))
    case 'overwrite': return concat(bytes.subarray(0, at), m.extra, bytes.subarray(Math.min(bytes.length, at + m.extra.length)))
  }
}

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

const mutationsOf = (valid: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([bytes, ms]) => ms.reduce(mutate, bytes))

/** The same bytes as a Buffer, a plain Uint8Array, or a view into the middle of a larger buffer. */
type Holder = 'buffer' | 'uint8array' | 'offset'
const anyHolder = fc.constantFrom<Holder>('buffer', 'uint8array', 'offset')
function hold (bytes: Uint8Array, holder: Holder): Uint8Array {
  if (holder === 'uint8array') return Uint8Array.from(bytes)
  if (holder === 'buffer') return Buffer.from(bytes)
  const big = Buffer.alloc(bytes.length + 16, 0xaa)
  big.set(bytes, 7)
  return big.subarray(7, 7 + bytes.length)
}

// ---- decoders --------------------------------------------------------------------------------

interface Target {
  label: string
  /** Valid encodings, which the mutations start from. */
  valid: fc.Arbitrary<Uint8Array>
  /** More bytes worth trying, beyond random and mutated ones. */
  extra?: fc.Arbitrary<Uint8Array>
  /** Decodes as production does. */
  decode: (bytes: Uint8Array) => unknown
  encode: (value: unknown) => Uint8Array
  /** Reached only with Buffers (protomux frames), so not fed other byte views. */
  buffersOnly?: boolean
}

/** Through decodeRecord, as view records and invite records are read. */
function asRecord<T> (name: string, codec: Codec<T>, valid: fc.Arbitrary<T>): Target {
  return { label: `decodeRecord(${name})`, valid: valid.map((v) => encodeRecord(codec, v)), decode: (b) => decodeRecord(codec, b), encode: (v) => encodeRecord(codec, v as T) }
}

/** The codec alone on one frame, as protomux decodes a peer's message. */
function asFrame<T> (name: string, codec: Codec<T>, valid: fc.Arbitrary<T>): Target {
  return {
    label: `${name} as a protomux frame`,
    valid: valid.map((v) => encodeRecord(codec, v)),
    decode: (b) => codec.decode({ start: 0, end: b.byteLength, buffer: b }),
    encode: (v) => encodeRecord(codec, v as T),
    buffersOnly: true
  }
}

const records = recordArbs(bytes32, uint)
const recordTargets = {
  nodeRecordCodec: asRecord('nodeRecordCodec', nodeRecordCodec, records.node),
  drainRecordCodec: asRecord('drainRecordCodec', drainRecordCodec, records.drain),
  fullRecordCodec: asRecord('fullRecordCodec', fullRecordCodec, records.full),
  heartbeatRecordCodec: asRecord('heartbeatRecordCodec', heartbeatRecordCodec, records.heartbeat),
  writerRecordCodec: asRecord('writerRecordCodec', writerRecordCodec, records.writer),
  inviteRecordCodec: asRecord('inviteRecordCodec', inviteRecordCodec, records.invite),
  cloudRecordCodec: asRecord('cloudRecordCodec', cloudRecordCodec, records.cloud),
  holdRecordCodec: asRecord('holdRecordCodec', holdRecordCodec, records.hold),
  progressRecordCodec: asRecord('progressRecordCodec', progressRecordCodec, records.progress),
  epochRecordCodec: asRecord('epochRecordCodec', epochRecordCodec, records.epoch),
  proposalRecordCodec: asRecord('proposalRecordCodec', proposalRecordCodec, records.proposal),
  nextWriterRecordCodec: asRecord('nextWriterRecordCodec', nextWriterRecordCodec, records.nextWriter),
  hostedRecordCodec: asRecord('hostedRecordCodec', hostedRecordCodec, records.hosted),
  cloudWriterRecordCodec: asRecord('cloudWriterRecordCodec', cloudWriterRecordCodec, records.cloudWriter),
  deviceRecordCodec: asRecord('deviceRecordCodec', deviceRecordCodec, records.device),
  fileRecordCodec: asRecord('fileRecordCodec', fileRecordCodec, records.file),
  hostedWriterRecordCodec: asRecord('hostedWriterRecordCodec', hostedWriterRecordCodec, records.hostedWriter)
}
const pingArb = fc.record({ seq: uint, load: loadOf(uint) })
const epochAdvertArb = fc.record({ epoch: uint, key: bytes32 })
const joinEpochArb = fc.record({ epoch: uint, writerKey: bytes32 })

/** Ops with a real header over random bodies, so every body decoder is reached, not just the header check. */
const headedGarbage = fc.tuple(fc.nat(Object.keys(OpType).length + 2), fc.uint8Array({ maxLength: 300, size: 'max' }))
  .map(([type, body]) => concat(Uint8Array.from([OP_VERSION, type]), body))
const headedHostedGarbage = fc.tuple(fc.nat(Object.keys(HostedOpType).length + 2), fc.uint8Array({ maxLength: 300, size: 'max' }))
  .map(([type, body]) => concat(Uint8Array.from([HOSTED_OP_VERSION, type]), body))

/** Every export of protocol/ that decodes bytes, by export name. */
const TARGETS: Record<string, Target[]> = {
  decodeOp: [{ label: 'decodeOp', valid: opArb.map(encodeOp), extra: headedGarbage, decode: decodeOp, encode: (v) => encodeOp(v as Op) }],
  decodeHostedOp: [{
    label: 'decodeHostedOp', valid: hostedOpArb.map(encodeHostedOp), extra: headedHostedGarbage, decode: decodeHostedOp, encode: (v) => encodeHostedOp(v as HostedOp)
  }],
  decodeRecord: Object.values(recordTargets),
  ...Object.fromEntries(Object.entries(recordTargets).map(([name, target]) => [name, [target]])),
  loadCodec: [asRecord('loadCodec', loadCodec, loadOf(uint))],
  key32: [asRecord('key32', key32, bytes32)],
  pingCodec: [asRecord('pingCodec', pingCodec, pingArb), asFrame('pingCodec', pingCodec, pingArb)],
  epochAdvertCodec: [asRecord('epochAdvertCodec', epochAdvertCodec, epochAdvertArb), asFrame('epochAdvertCodec', epochAdvertCodec, epochAdvertArb)],
  joinEpochCodec: [asRecord('joinEpochCodec', joinEpochCodec, joinEpochArb), asFrame('joinEpochCodec', joinEpochCodec, joinEpochArb)],
  // Codec builders: fuzzed through instances of them (ops and records use them all too).
  struct: [asRecord('struct', struct({ load: loadCodec, key: key32 }), fc.record({ load: loadOf(uint), key: bytes32 }))],
  boundedString: [asRecord('boundedString(16)', boundedString(16), text(16))],
  boundedBuffer: [asRecord('boundedBuffer(16)', boundedBuffer(16), fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)))],
  boundedArray: [asRecord('boundedArray(key32, 3)', boundedArray(key32, 3), fc.array(bytes32, { maxLength: 3 }))]
}

interface TextTarget { valid: fc.Arbitrary<string>, parse: (text: string) => unknown, check: (value: unknown) => void }

/** Exports that decode text from users, config files and URLs. */
const TEXT_TARGETS: Record<string, TextTarget> = {
  parseKey: {
    valid: fc.tuple(bytes32, fc.boolean()).map(([key, z32]) => z32 ? formatKey(key) : hexKey(key)),
    parse: (text) => parseKey(text),
    check: (key) => {
      assert.ok(Buffer.isBuffer(key) && key.byteLength === 32, 'a 32-byte Buffer')
      assert.deepEqual(parseKey(formatKey(key)), key)
    }
  },
  parseWriteId: {
    valid: fc.tuple(fc.nat(MAX_LAMPORT), bytes32).map(([clock, writer]) => writeId(clock, writer)),
    parse: (text) => parseWriteId(text),
    check: (id) => {
      if (id === null) return // not a write id: the caller answers 400
      const { clock, writer } = id as { clock: number, writer: Buffer }
      assert.ok(Number.isSafeInteger(clock) && clock >= 0, 'a whole clock')
      assert.ok(Buffer.isBuffer(writer) && writer.byteLength === 32, 'a 32-byte writer key')
      assert.deepEqual(parseWriteId(writeId(clock, writer)), { clock, writer })
    }
  },
  parseDuration: {
    valid: fc.tuple(fc.nat(100_000), fc.constantFrom('', 'ms', 's', 'm', 'h', 'd')).map(([n, unit]) => `${n}${unit}`),
    parse: (text) => parseDuration(text, 'fuzz', true),
    check: (ms) => assert.ok(Number.isSafeInteger(ms) && (ms as number) >= 0, `a whole number of milliseconds, got ${String(ms)}`)
  }
}

/** Errors V8 raises when asked for an absurd buffer or array: a decoder must refuse before that. */
function allocationFailure (err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (/allocation failed|invalid (typed )?array length|out of memory/i.test(e.message)) return true
  }
  return false
}

function assertTyped (err: unknown): void {
  assert.ok(err instanceof BevyError, `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, not a BevyError`)
  assert.ok(Object.values(ErrorCode).includes(err.code), `unknown code ${err.code}`)
  assert.ok(!allocationFailure(err), `tried to allocate: ${String(err.cause)}`)
}

function bytesFor (target: Target): fc.Arbitrary<Uint8Array> {
  const random = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 4096, size: 'max' }))
  const sources = [
    { arbitrary: random, weight: 2 },
    { arbitrary: target.valid, weight: 1 },
    { arbitrary: mutationsOf(target.valid), weight: 4 },
    ...(target.extra === undefined ? [] : [{ arbitrary: target.extra, weight: 2 }])
  ]
  const holders: Holder[] = target.buffersOnly === true ? ['buffer', 'offset'] : ['buffer', 'uint8array', 'offset']
  return fc.tuple(fc.oneof(...sources), fc.constantFrom(...holders)).map(([bytes, holder]) => hold(bytes, holder))
}

test('every decoder protocol/ exports, every peer message and every op type is fuzzed', () => {
  const isCodec = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as Codec<unknown>).decode === 'function'
  const decoders = Object.entries(protocol)
    .filter(([name, value]) => isCodec(value) || (typeof value === 'function' && /^(decode|parse|bounded)|^struct$/.test(name)))
    .map(([name]) => name)
  const fuzzed = new Set([...Object.keys(TARGETS), ...Object.keys(TEXT_TARGETS)])
  assert.deepEqual(decoders.filter((name) => !fuzzed.has(name)), [], 'new decoders need a TARGETS entry')
  const frames = Object.entries(wire).filter(([, value]) => isCodec(value)).map(([name]) => name)
  assert.equal(frames.length, Object.keys(wire.PingMessage).length, 'one codec per peer message')
  for (const name of frames) assert.ok(TARGETS[name]?.some((t) => t.buffersOnly === true), `${name} is fuzzed as protomux decodes it`)
  assert.deepEqual(Object.values(OpType).filter((type) => !(type in OP_ARBS)), [], 'every op type has a generator')
  assert.deepEqual(Object.values(HostedOpType).filter((type) => !(type in HOSTED_OP_ARBS)), [], 'every hosted op type has a generator')
  assert.deepEqual(SEEDED_PREFIXES.filter((prefix) => !(prefix in SEED_ENTRIES)), [], 'every seeded prefix has a generator')
})

for (const target of new Set(Object.values(TARGETS).flat())) {
  test(`${target.label}: random and mutated bytes decode to a canonical value or raise a BevyError`, () => {
    fc.assert(fc.property(bytesFor(target), (bytes) => {
      let value: unknown
      try {
        value = target.decode(bytes)
      } catch (err) {
        assertTyped(err)
        return
      }
      // Whatever decodes must be what it claims: Buffers where the types say Buffer, numbers
      // that re-encode exactly, strings within their bounds.
      assert.deepStrictEqual(target.decode(hold(target.encode(value), 'buffer')), value)
    }), runs(1000))
  })
}

for (const [name, target] of Object.entries(TEXT_TARGETS)) {
  test(`${name}: random and mutated text parses or raises a BevyError`, () => {
    const edited = fc.tuple(target.valid, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }), fc.nat(3))
      .map(([s, at, insert, cut]) => s.slice(0, at % (s.length + 1)) + insert + s.slice((at % (s.length + 1)) + cut))
    fc.assert(fc.property(fc.oneof(target.valid, edited, fc.string({ unit: 'binary', maxLength: 80 })), (text) => {
      let value: unknown
      try {
        value = target.parse(text)
      } catch (err) {
        assertTyped(err)
        return
      }
      target.check(value)
    }), runs(1000))
  })
}

test('huge lengths and counts are refused, not allocated', () => {
  const id = [...Buffer.alloc(32, 7)]
  const before = process.memoryUsage().arrayBuffers
  for (const huge of HUGE_VARINTS) {
    const cases: Array<[string, () => unknown]> = [
      ['announce url', () => decodeOp(Buffer.from([OP_VERSION, OpType.ANNOUNCE, 1, ...id, ...huge, 0x61]))],
      ['seed entry count', () => decodeOp(Buffer.from([OP_VERSION, OpType.SEED, 1, ...huge, 1, 0x6e]))],
      ['seed key', () => decodeOp(Buffer.from([OP_VERSION, OpType.SEED, 1, 1, ...huge, 0x6e]))],
      ['seed value', () => decodeOp(Buffer.from([OP_VERSION, OpType.SEED, 1, 1, 1, 0x6e, ...huge, 1]))],
      ['hosted put path', () => decodeHostedOp(Buffer.from([HOSTED_OP_VERSION, HostedOpType.PUT, 1, ...huge, 0x2f]))],
      ['hosted delete path', () => decodeHostedOp(Buffer.from([HOSTED_OP_VERSION, HostedOpType.DELETE, 1, ...huge, 0x2f]))],
      ['node record url', () => decodeRecord(nodeRecordCodec, Buffer.from([1, ...id, ...id, ...id, ...huge, 0x61]))],
      ['bounded array', () => decodeRecord(boundedArray(key32, 3), Buffer.from([...huge, ...id]))]
    ]
    for (const [what, decode] of cases) {
      assert.throws(decode, (err: unknown) => { assertTyped(err); return true }, `${what} of ${Buffer.from(huge).toString('hex')}`)
    }
  }
  // A decoder that believed the 256 MiB prefix would show here, whether or not it failed after.
  assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 2 ** 20, 'no large buffer was allocated')
})

// ---- apply -----------------------------------------------------------------------------------

/** What Autobase does first: the bootstrap admits itself, then the other writers. */
const ADMIT_ALL: InputNode[] = WRITERS.map((key) => node(BOOTSTRAP, { type: OpType.ADD_WRITER, key, inviteId: NO_INVITE }))
/** The writer that owns a node id: the only one whose announce of it can land first. */
const ownerOf = (id: Buffer) => WRITERS[NODE_IDS.findIndex((n) => n.equals(id)) % WRITERS.length] as Buffer
const introduce = (id: Buffer): InputNode =>
  node(ownerOf(id), { type: OpType.ANNOUNCE, lamport: 0, nodeId: id, url: `http://${hexKey(id).slice(0, 8)}`, zone: 'z', capacity: 1 })

const EMPTY = Symbol('empty value')
/** The record codec of every section of the view, with how many 32-byte ids its key carries. */
const VIEW_SECTIONS: Record<string, [ids: number, codec: Codec<unknown> | typeof EMPTY]> = {
  node: [1, nodeRecordCodec],
  drain: [1, drainRecordCodec],
  full: [1, fullRecordCodec],
  hb: [1, heartbeatRecordCodec],
  writer: [1, writerRecordCodec],
  invite: [1, inviteRecordCodec],
  'invite-use': [2, EMPTY],
  'invite-revoked': [1, EMPTY],
  cloud: [1, cloudRecordCodec],
  hold: [2, holdRecordCodec],
  sync: [2, progressRecordCodec],
  'next-writer': [1, nextWriterRecordCodec],
  evicted: [1, EMPTY],
  hosted: [1, hostedRecordCodec],
  'cloud-writer': [2, cloudWriterRecordCodec],
  'cloud-device': [2, deviceRecordCodec]
}

function codecOf (key: string): Codec<unknown> | typeof EMPTY {
  if (key === ViewKey.epoch) return epochRecordCodec
  if (key === ViewKey.proposal) return proposalRecordCodec
  const [section = '', ...ids] = key.split('/')
  const layout = VIEW_SECTIONS[section]
  assert.ok(layout !== undefined, `${key}: a section this test does not know (add it to VIEW_SECTIONS)`)
  assert.equal(ids.length, layout[0], `${key}: ${layout[0]} ids`)
  for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/, `${key}: ids are 32 bytes in hex`)
  return layout[1]
}

/** Every record decodes with its section's codec, canonically; node records agree with their keys and name writers. */
function assertConsistent (store: MemoryViewStore, added: ReadonlyArray<[string, boolean]>): void {
  const entries = store.entries
  for (const [key, value] of entries) {
    const codec = codecOf(key)
    if (codec === EMPTY) {
      assert.equal(value.byteLength, 0, `${key} is a marker`)
      continue
    }
    assert.deepEqual(encodeRecord(codec, decodeRecord(codec, value)), value, `${key} holds a well-formed record`)
  }
  for (const [key, value] of entries) {
    if (key.startsWith(ViewKey.nodePrefix)) {
      const record = decodeRecord(nodeRecordCodec, value)
      assert.equal(key, ViewKey.node(record.nodeId), 'a node record sits under its own id')
      assert.ok(Object.values(NodeState).includes(record.state), `${key}: state ${record.state}`)
      assert.ok(record.writerKey.equals(UNBOUND) || entries.has(ViewKey.writer(record.writerKey)), `${key} names a writer that is not one`)
    }
    if (key.startsWith(ViewKey.cloudPrefix)) assert.ok(decodeRecord(cloudRecordCodec, value).replicas <= MAX_REPLICAS)
  }
  // The view's writers are exactly those apply asked Autobase to add.
  const writers = [...entries.keys()].filter((key) => key.startsWith(ViewKey.writerPrefix)).map((key) => key.slice(ViewKey.writerPrefix.length))
  assert.deepEqual(writers.sort(), [...new Set(added.map(([hex]) => hex))].sort())
}

async function run (nodes: InputNode[], ctx: Omit<ApplyContext, 'onSkip'> = { maxIndexers: 3 }) {
  const store = new MemoryViewStore()
  const added: Array<[string, boolean]> = []
  const removed: string[] = []
  const skips: string[] = []
  await applyNodes(nodes, store, hostFor(added, removed), { ...ctx, onSkip: (reason) => skips.push(reason) })
  return { store, added, removed, skips, view: dump(store) }
}

const undecodable = (bytes: unknown) => {
  try {
    decodeOp(bytes)
    return false
  } catch {
    return true
  }
}

/** What a faulty or hostile writer might append: random or damaged bytes, or not bytes at all. */
const garbageValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 64 }), headedGarbage, mutationsOf(opArb.map(encodeOp))), anyHolder)
    .map(([bytes, holder]) => hold(bytes, holder)).filter(undecodable),
  fc.constant(null), // an Autobase ack
  fc.constant(undefined),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.record({ type: fc.nat(20) })
)

const fromWriter = fc.constantFrom(...WRITERS)

test('apply never throws on random ops and garbage, keeps the view well-formed, and garbage changes nothing', async () => {
  const ctx = { maxIndexers: 3, bootstrapKey: () => BOOTSTRAP }
  await fc.assert(fc.asyncProperty(
    // Some nodes announced up front, so that ops about them are not all refused as unknown.
    fc.subarray(NODE_IDS),
    fc.array(fc.tuple(fromWriter, opArb, anyHolder), { maxLength: 60, size: 'max' }),
    fc.array(fc.tuple(fc.nat(), fromWriter, garbageValue), { maxLength: 20 }),
    async (known, ops, garbage) => {
      const setup = [...ADMIT_ALL, ...known.map(introduce)]
      const clean = [...setup, ...ops.map(([from, op]) => node(from, op))]
      // The same ops in any kind of byte view, with garbage in between.
      const dirty = [...setup, ...ops.map(([from, op, h]) => ({ value: hold(encodeOp(op), h), from: { key: from } }))]
      for (const [at, from, value] of garbage) dirty.splice(at % (dirty.length + 1), 0, { value, from: { key: from } })
      const a = await run(clean, ctx)
      const b = await run(dirty, ctx)
      assertConsistent(a.store, a.added)
      assert.equal(b.view, a.view, 'garbage (or the byte view ops came in) changed the view')
      assert.deepEqual([b.added, b.removed], [a.added, a.removed], 'garbage changed the writers')
      assert.equal(b.skips.length - a.skips.length, garbage.filter(([, , value]) => value !== null).length, 'every garbage op is reported')
    }
  ), runs(800))
})

/** The op types whose records resolve last-writer-wins or by a counter (see the header of apply.ts). */
const ORDER_FREE = [
  OpType.ANNOUNCE, OpType.HEARTBEAT, OpType.DRAIN, OpType.UNDRAIN, OpType.LEAVE,
  OpType.CLOUD_ADD, OpType.CLOUD_REMOVE, OpType.CLOUD_HOLD, OpType.CLOUD_PROGRESS, OpType.CLOUD_WRITER, OpType.CLOUD_DEVICE
] as const

/**
 * CLOUD_HOSTED as nodes write it: each cloud keeps the one base it was created with (a rotation
 * reuses the base in the view), so only the stamp decides and it is last-writer-wins. Two bases
 * for one cloud are not order free, and are left out on purpose: the first record applied stands
 * and refuses every other base whatever its stamp, so which base a cloud keeps depends on the
 * order (honest nodes never write that: a hosted cloud's key is fresh and random).
 */
const hostedOneBase: fc.Arbitrary<Op> = OP_ARBS[OpType.CLOUD_HOSTED]
  .map((op) => ({ ...op, base: BASES[CLOUDS.findIndex((c) => c.equals(op.key)) % BASES.length] as Buffer }))

/**
 * Ops per writer, in the order that writer appended them: Autobase keeps each writer's own order
 * and only interleaves writers differently. A writer's lamports (and heartbeat seqs) rise as its
 * Lamport clock does, by random steps so that writers still tie with each other.
 */
const orderFreeOp = fc.oneof(...ORDER_FREE.map((t) => OP_ARBS[t] as fc.Arbitrary<Op>), hostedOneBase)
const perWriterOps = fc.array(fc.tuple(fc.nat(WRITERS.length - 1), orderFreeOp, fc.boolean(), fc.integer({ min: 1, max: 3 })), { maxLength: 60, size: 'max' })
  .map((drawn) => {
    const clocks = WRITERS.map(() => 0)
    const queues: Array<Array<{ from: Buffer, op: Op }>> = WRITERS.map(() => [])
    for (const [w, op, byOwner, step] of drawn) {
      // Mostly a node's own writer, so self-only ops (heartbeat, hold, progress, leave, cloud writer) land.
      const from = byOwner && 'nodeId' in op ? ownerOf(op.nodeId) : WRITERS[w] as Buffer
      const i = WRITERS.indexOf(from)
      const clock = clocks[i] = (clocks[i] as number) + step
      const stamped = op.type === OpType.HEARTBEAT ? { ...op, seq: clock } : 'lamport' in op ? { ...op, lamport: clock } : op
      queues[i]?.push({ from, op: stamped })
    }
    return queues
  })

/** One interleaving: `schedule` names whose next op comes next; what it leaves out follows in writer order. */
function interleave (queues: Array<Array<{ from: Buffer, op: Op }>>, schedule: number[]): InputNode[] {
  const next = queues.map(() => 0)
  const out: Array<{ from: Buffer, op: Op }> = []
  for (const w of schedule) {
    const queue = queues[w] ?? []
    const i = next[w] as number
    if (i < queue.length) { out.push(queue[i] as { from: Buffer, op: Op }); next[w] = i + 1 }
  }
  queues.forEach((queue, w) => out.push(...queue.slice(next[w])))
  return out.map(({ from, op }) => node(from, op))
}

test('announce, heartbeat, drain, leave and cloud add/remove/hold/progress/hosted/writer/device give one view in any interleaving of writers', async () => {
  const schedule = fc.array(fc.nat(WRITERS.length - 1), { maxLength: 80, size: 'max' })
  await fc.assert(fc.asyncProperty(perWriterOps, schedule, schedule, async (queues, first, second) => {
    // Every node announced first by its owner: nothing about a node can land before it exists.
    const setup = [...ADMIT_ALL, ...NODE_IDS.map(introduce)]
    const a = await run([...setup, ...interleave(queues, first)])
    const b = await run([...setup, ...interleave(queues, second)])
    assert.equal(b.view, a.view)
  }), runs(800))
})

test('once a cloud is hosted, no op but a seed moves it to another base', async () => {
  const ctx = { maxIndexers: 3, bootstrapKey: () => BOOTSTRAP }
  const baseOf = (store: MemoryViewStore, cloud: Buffer) => {
    const bytes = store.entries.get(ViewKey.hosted(cloud))
    return bytes === undefined ? null : decodeRecord(hostedRecordCodec, bytes).base
  }
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fromWriter, opArb), { maxLength: 60, size: 'max' }), async (ops) => {
    const store = new MemoryViewStore()
    const host = hostFor()
    await applyNodes(ADMIT_ALL, store, host, ctx)
    for (const [from, op] of ops) {
      const before = CLOUDS.map((cloud) => baseOf(store, cloud))
      await applyNodes([node(from, op)], store, host, ctx)
      if (op.type === OpType.SEED) continue
      CLOUDS.forEach((cloud, i) => {
        const was = before[i]
        if (was !== null && was !== undefined) assert.deepEqual(baseOf(store, cloud), was, `${opName(op.type)} moved a hosted cloud`)
      })
    }
  }), runs(300))
})
