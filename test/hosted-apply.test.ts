// Hosted clouds: the pure apply of a hosted cloud's own log (a file index, last-writer-wins per
// path in any order; writers managed only by replica writers; deaf to garbage), and the cluster
// ops that register a hosted cloud and its nodes' writer keys. Property tests use fast-check with
// a fixed seed (BEVY_FUZZ_SEED and BEVY_FUZZ_SCALE explore further by hand).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { applyHostedNodes, applyHostedRaw, type HostedApplyContext, type HostedInputNode } from '../node/hosted/hosted-apply.js'
import { applyNodes, applyRaw, type ApplyContext, type InputNode } from '../node/view/apply.js'
import { readSnapshot, refreshSnapshot, type HostedView } from '../node/view/snapshot.js'
import { ChangeTrackingStore, MemoryViewStore, type WriterHost } from '../node/view/view-store.js'
import {
  cloudWriterRecordCodec, decodeHostedOp, decodeRecord, encodeHostedOp, encodeOp, encodeRecord, fileRecordCodec, HOSTED_OP_VERSION, HostedKey, HostedOpType,
  hostedRecordCodec, hostedWriterRecordCodec, MAX_HOSTED_PATH_BYTES, MAX_LAMPORT, normalHostedPath, OpType, ViewKey, type FileRecord, type HostedOp, type Op
} from '../protocol/index.js'
import { dump, hostFor, node } from './view-fixtures.js'

const SEED = Number(process.env.BEVY_FUZZ_SEED ?? 20_250_609)
const SCALE = Number(process.env.BEVY_FUZZ_SCALE ?? 1)
const runs = (numRuns: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)), includeErrorInReport: true })

// ---- fixtures --------------------------------------------------------------------------------

/** `n` distinct keys, printed by name in counterexamples (writer0, ...). */
const pool = (name: string, fill: number, n: number): Buffer[] => Array.from({ length: n }, (_, i) =>
  Object.defineProperty(Buffer.alloc(32, fill + i), fc.toStringMethod, { value: () => `${name}${i}` }))

const WRITERS = pool('writer', 0x10, 4)
const PATHS = ['/a', '/b', '/dir/c']
const ZERO = Buffer.alloc(32)

/** A host that records what apply asked of it; removing a key in `keep` is refused (the last indexer). */
class RecordingHost implements WriterHost {
  readonly added: Array<[string, boolean]> = []
  readonly removed: string[] = []
  readonly keep = new Set<string>()

  async addWriter (key: Buffer, { indexer }: { indexer: boolean }): Promise<void> { this.added.push([key.toString('hex'), indexer]) }

  async removeWriter (key: Buffer): Promise<boolean> {
    if (this.keep.has(key.toString('hex'))) return false
    this.removed.push(key.toString('hex'))
    return true
  }
}

/** A hosted cloud's view, its host, and what apply reported. */
function hostedCloud (bootstrap: Buffer = WRITERS[0] as Buffer) {
  const store = new MemoryViewStore()
  const host = new RecordingHost()
  const skips: string[] = []
  const clocks: number[] = []
  const blobs: string[] = []
  const ctx: HostedApplyContext = {
    bootstrapKey: () => bootstrap,
    onClock: (clock) => clocks.push(clock),
    onBlob: (core, end) => blobs.push(`${core.toString('hex')}:${end}`),
    onSkip: (reason) => skips.push(reason)
  }
  /** Applies one op (or raw value) from `from`; the skip reason, or null when applied. */
  const apply = (from: Buffer, op: HostedOp | { raw: unknown }) =>
    applyHostedRaw('raw' in op ? op.raw : encodeHostedOp(op), from, store, host, ctx)
  const applyAll = (nodes: HostedInputNode[]) => applyHostedNodes(nodes, store, host, ctx)
  return { store, host, skips, clocks, blobs, ctx, apply, applyAll }
}

const hostedNode = (from: Buffer, op: HostedOp): HostedInputNode => ({ value: encodeHostedOp(op), from: { key: from } })

/** A put whose blob and hash name the write, so a loser's bytes are recognisable in the index. */
function put (clock: number, path: string, tag = clock): HostedOp {
  return {
    type: HostedOpType.PUT, clock, path, blobCore: Buffer.alloc(32, tag), blockOffset: tag, blockLength: 1, byteOffset: tag * 10, byteLength: 10, mtimeMs: 1000 + tag, sha256: Buffer.alloc(32, 0x80 + tag)
  }
}
const del = (clock: number, path: string): HostedOp => ({ type: HostedOpType.DELETE, clock, path })
const addWriter = (key: Buffer, device: boolean, nodeId: Buffer = randomBytes(32)): HostedOp => ({ type: HostedOpType.ADD_WRITER, key, device, nodeId })
const removeWriter = (key: Buffer): HostedOp => ({ type: HostedOpType.REMOVE_WRITER, key })

/** The files in the index (paths start with '/'; bookkeeping with '!'), decoded. */
function files (store: MemoryViewStore): Map<string, FileRecord> {
  return new Map([...store.entries].filter(([key]) => key.startsWith(HostedKey.filesStart)).sort(([a], [b]) => a < b ? -1 : 1)
    .map(([key, value]) => [key, decodeRecord(fileRecordCodec, value)]))
}

function writerRecord (store: MemoryViewStore, key: Buffer) {
  const value = store.entries.get(HostedKey.writer(key))
  return value === undefined ? undefined : value.byteLength === 0 ? 'removed' : decodeRecord(hostedWriterRecordCodec, value)
}

/** The record a write makes, as the index should hold it when it wins. */
function recordOf (from: Buffer, op: HostedOp): FileRecord {
  if (op.type === HostedOpType.PUT) {
    const { type: _type, path: _path, ...rest } = op
    return { ...rest, writer: from, deleted: false }
  }
  assert.equal(op.type, HostedOpType.DELETE)
  return { clock: op.clock, writer: from, deleted: true, blobCore: ZERO, blockOffset: 0, blockLength: 0, byteOffset: 0, byteLength: 0, mtimeMs: 0, sha256: ZERO }
}

// ---- files: last writer wins, in any order -----------------------------------------------------

/**
 * Writes from several writers to a few paths. Each writer's clock rises with every op it writes
 * (as HostedCloud's does), by small random steps so that writers tie with each other.
 */
const concurrentWrites = fc.array(fc.tuple(fc.nat(WRITERS.length - 1), fc.boolean(), fc.constantFrom(...PATHS), fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 30 })
  .map((drawn) => {
    const clocks = WRITERS.map(() => 0)
    return drawn.map(([w, isPut, path, step], i) => {
      const clock = clocks[w] = (clocks[w] as number) + step
      return { from: WRITERS[w] as Buffer, op: isPut ? put(clock, path, i % 0x70) : del(clock, path) }
    })
  })

test('concurrent puts and deletes give the same file index in every order, and it is the highest (clock, writer) per path', async () => {
  const writes = concurrentWrites.chain((ops) => fc.tuple(fc.constant(ops), fc.shuffledSubarray(ops, { minLength: ops.length, maxLength: ops.length })))
  await fc.assert(fc.asyncProperty(writes, async ([ops, shuffled]) => {
    const a = hostedCloud()
    const b = hostedCloud()
    await a.applyAll(ops.map(({ from, op }) => hostedNode(from, op)))
    await b.applyAll(shuffled.map(({ from, op }) => hostedNode(from, op)))
    assert.equal(dump(b.store), dump(a.store), 'the order changed the index')
    // What a model of the contest expects: per path, the write with the highest clock, then writer key.
    const expected = new Map<string, FileRecord>()
    for (const { from, op } of ops) {
      if (op.type !== HostedOpType.PUT && op.type !== HostedOpType.DELETE) continue
      const held = expected.get(op.path)
      const wins = held === undefined || op.clock > held.clock || (op.clock === held.clock && Buffer.compare(from, held.writer) > 0)
      if (wins) expected.set(op.path, recordOf(from, op))
    }
    assert.deepEqual(files(a.store), new Map([...expected].sort(([x], [y]) => x < y ? -1 : 1)))
    // Every write, winner or not, is in its path's history.
    const history = new Map<string, FileRecord>()
    for (const { from, op } of ops) if (op.type === HostedOpType.PUT || op.type === HostedOpType.DELETE) history.set(HostedKey.write(op.path, op.clock, from), recordOf(from, op))
    const stored = [...a.store.entries].filter(([k]) => k.startsWith('!h')).map(([k, v]): [string, FileRecord] => [k, decodeRecord(fileRecordCodec, v)])
    assert.deepEqual(new Map(stored), history)
    assert.equal(a.store.entries.size, expected.size + history.size, 'nothing but files and their histories in the index')
    // Every clock is reported, and every put's blocks (winner or not), so neither depends on order.
    assert.deepEqual([...b.clocks].sort(), [...a.clocks].sort())
    assert.equal(Math.max(...a.clocks), Math.max(...ops.map(({ op }) => (op as { clock: number }).clock)))
    assert.deepEqual([...b.blobs].sort(), [...a.blobs].sort())
  }), runs(400))
})

test('the loser of a same-path race is not in the index; the winner is the highest (clock, writer)', async () => {
  const [lo, hi] = [...WRITERS.slice(0, 2)].sort(Buffer.compare) as [Buffer, Buffer]
  // Same clock: the higher writer key wins, whichever comes first.
  for (const order of [[lo, hi], [hi, lo]]) {
    const cloud = hostedCloud()
    const reasons = []
    for (const from of order) reasons.push(await cloud.apply(from, put(5, '/f', from === lo ? 1 : 2)))
    assert.deepEqual(files(cloud.store).get('/f'), recordOf(hi, put(5, '/f', 2)))
    const histories = [...cloud.store.entries].filter(([k]) => k.startsWith('!h/f\0'))
    assert.equal(histories.length, 2, 'both writes are in the path\'s history')
    assert.ok(histories.some(([, v]) => v.includes(Buffer.alloc(32, 0x80 + 1))), "the loser's hash is in the history")
    assert.deepEqual(reasons, order[0] === hi ? [null, 'file: a later write holds the path (kept in its history)'] : [null, null])
  }
  // A higher clock beats a higher writer key.
  const cloud = hostedCloud()
  assert.equal(await cloud.apply(hi, put(5, '/f', 2)), null)
  assert.equal(await cloud.apply(lo, put(6, '/f', 1)), null)
  assert.equal(files(cloud.store).get('/f')?.writer.equals(lo), true)
  assert.equal(await cloud.apply(hi, put(6, '/f', 3)), null, 'and at the same clock the higher writer takes it back')
  assert.deepEqual(files(cloud.store).get('/f'), recordOf(hi, put(6, '/f', 3)))
  // The same op again (Autobase re-applies after a reorder) is a no-op.
  const before = dump(cloud.store)
  assert.equal(await cloud.apply(hi, put(6, '/f', 3)), 'file: already applied')
  assert.equal(dump(cloud.store), before)
})

test('a tombstone beats an older put and loses to a newer one', async () => {
  const [w, v] = WRITERS as [Buffer, Buffer]
  const cloud = hostedCloud()
  assert.equal(await cloud.apply(w, put(3, '/f')), null)
  assert.equal(await cloud.apply(v, del(4, '/f')), null)
  assert.deepEqual(files(cloud.store).get('/f'), recordOf(v, del(4, '/f')))
  assert.equal(await cloud.apply(w, put(2, '/f')), 'file: a later write holds the path (kept in its history)', 'an older put does not resurrect the file')
  assert.equal(files(cloud.store).get('/f')?.deleted, true)
  assert.equal(await cloud.apply(w, put(5, '/f')), null, 'a newer put does')
  assert.deepEqual(files(cloud.store).get('/f'), recordOf(w, put(5, '/f')))
  assert.equal(await cloud.apply(v, del(1, '/f')), 'file: a later write holds the path (kept in its history)', 'an older delete loses')
  assert.equal(files(cloud.store).get('/f')?.deleted, false)
  // A delete of a path never written leaves a tombstone, so a put older than it stays deleted.
  assert.equal(await cloud.apply(v, del(9, '/g')), null)
  assert.equal(await cloud.apply(w, put(8, '/g')), 'file: a later write holds the path (kept in its history)')
  assert.equal(files(cloud.store).get('/g')?.deleted, true)
})

test('bad paths are skipped and change nothing', async () => {
  const BAD = [
    '', '/', 'a', 'a/b', './a', '/.', '/..', '/a/.', '/a/..', '/a/./b', '/a/../b', '/../a', '//a', '/a//b', '/a/', '/a/b/',
    '/a\0b', '\0', '/\0'
  ]
  const cloud = hostedCloud()
  const w = WRITERS[0] as Buffer
  await cloud.apply(w, put(1, '/ok'))
  const before = dump(cloud.store)
  const [clocks, blobs] = [cloud.clocks.length, cloud.blobs.length]
  for (const path of BAD) {
    assert.equal(await cloud.apply(w, put(50, path)), 'file: bad path', JSON.stringify(path))
    assert.equal(await cloud.apply(w, del(50, path)), 'file: bad path', JSON.stringify(path))
  }
  // A path over the limit does not even decode.
  const long = '/' + 'x'.repeat(MAX_HOSTED_PATH_BYTES)
  assert.match(await cloud.apply(w, put(50, long)) ?? 'applied', /^BAD_OP: /)
  assert.match(await cloud.apply(w, del(50, long)) ?? 'applied', /^BAD_OP: /)
  assert.equal(dump(cloud.store), before)
  assert.deepEqual([cloud.clocks.length, cloud.blobs.length], [clocks, blobs], 'a skipped write pushes no clock and needs no blocks')
  // Near misses that are fine.
  for (const path of ['/.a', '/..a', '/a..', '/a/b.c', '/ü/ß', '/' + 'x'.repeat(MAX_HOSTED_PATH_BYTES - 1)]) {
    assert.equal(await cloud.apply(w, put(2, path)), null, JSON.stringify(path))
  }
})

test('a clock beyond MAX_LAMPORT is refused, so one writer cannot take a path for good or leave no clock to write with', async () => {
  const [w, v] = WRITERS as [Buffer, Buffer]
  const cloud = hostedCloud()
  for (const clock of [MAX_LAMPORT + 1, 2 ** 53 - 1]) {
    assert.equal(await cloud.apply(w, put(clock, '/f', 1)), `file: clock ${clock} is beyond ${MAX_LAMPORT}`)
    assert.equal(await cloud.apply(w, del(clock, '/f')), `file: clock ${clock} is beyond ${MAX_LAMPORT}`)
  }
  assert.equal(cloud.store.entries.size, 0)
  assert.deepEqual([cloud.clocks, cloud.blobs], [[], []], 'nor does it move any clock')
  assert.equal(await cloud.apply(w, put(MAX_LAMPORT, '/f', 1)), null, 'MAX_LAMPORT itself is fine')
  // What the bound keeps possible: the next write after the highest clock seen still encodes.
  assert.doesNotThrow(() => encodeHostedOp(del(Math.max(...cloud.clocks) + 1, '/f')))
  assert.equal(await cloud.apply(v, del(MAX_LAMPORT, '/f')), Buffer.compare(v, w) > 0 ? null : 'file: a later write holds the path')
})

// ---- writers ---------------------------------------------------------------------------------

test('replica writers add and remove writers; devices only write files; strangers do nothing', async () => {
  const [bootstrap, replica, device, stranger] = WRITERS as [Buffer, Buffer, Buffer, Buffer]
  const replicaNode = randomBytes(32)
  const cloud = hostedCloud(bootstrap)
  const { apply, host } = cloud
  const hex = (k: Buffer) => k.toString('hex')

  assert.equal(await apply(stranger, addWriter(stranger, false)), 'add-writer: only a replica writer may')
  assert.equal(await apply(bootstrap, addWriter(replica, false, replicaNode)), null, 'the bootstrap writer adds a replica')
  assert.deepEqual(writerRecord(cloud.store, replica), { device: false, nodeId: replicaNode })
  assert.equal(await apply(replica, addWriter(device, true, randomBytes(32))), null, 'a replica writer adds a device')
  assert.deepEqual(writerRecord(cloud.store, device), { device: true, nodeId: ZERO }, 'a device is not a node')
  assert.deepEqual(host.added, [[hex(replica), true], [hex(device), false]], 'replicas index, devices do not')

  const before = dump(cloud.store)
  assert.equal(await apply(device, addWriter(stranger, true)), 'add-writer: only a replica writer may')
  assert.equal(await apply(device, removeWriter(replica)), 'remove-writer: only a replica writer may')
  assert.equal(await apply(stranger, removeWriter(device)), 'remove-writer: only a replica writer may')
  assert.equal(await apply(bootstrap, addWriter(replica, false)), 'add-writer: already a writer')
  assert.equal(await apply(replica, addWriter(bootstrap, false)), 'add-writer: already a writer', 'the bootstrap writer is one without a record')
  assert.equal(await apply(replica, removeWriter(stranger)), 'remove-writer: not a writer')
  assert.equal(dump(cloud.store), before)
  assert.equal(host.added.length, 2)
  assert.deepEqual(host.removed, [])

  assert.equal(await apply(device, put(1, '/from-device')), null, 'a device writes files')
  assert.equal(files(cloud.store).get('/from-device')?.writer.equals(device), true)

  assert.equal(await apply(replica, removeWriter(device)), null)
  assert.deepEqual(host.removed, [hex(device)])
  assert.equal(writerRecord(cloud.store, device), 'removed')
  assert.equal(await apply(replica, removeWriter(device)), 'remove-writer: not a writer', 'a writer is removed once')
  assert.equal(await apply(replica, addWriter(device, true)), null, 'a removed writer may be added again')
  assert.deepEqual(host.added.at(-1), [hex(device), false])
  assert.deepEqual(writerRecord(cloud.store, device), { device: true, nodeId: ZERO })

  // A removed replica writer manages writers no more; nor does a removed bootstrap writer.
  assert.equal(await apply(bootstrap, removeWriter(replica)), null)
  assert.equal(await apply(replica, addWriter(stranger, false)), 'add-writer: only a replica writer may')
  assert.equal(await apply(bootstrap, addWriter(replica, false, replicaNode)), null, 'the bootstrap re-adds it')
  assert.equal(await apply(replica, removeWriter(bootstrap)), null, 'the bootstrap writer can be removed like any replica')
  assert.equal(writerRecord(cloud.store, bootstrap), 'removed')
  assert.equal(await apply(bootstrap, addWriter(stranger, false)), 'add-writer: only a replica writer may')
  assert.equal(await apply(replica, addWriter(bootstrap, false)), null, 'and added back')
})

test('a writer Autobase will not remove (the last indexer) stays a writer', async () => {
  const [bootstrap, replica] = WRITERS as [Buffer, Buffer]
  const cloud = hostedCloud(bootstrap)
  await cloud.apply(bootstrap, addWriter(replica, false))
  cloud.host.keep.add(replica.toString('hex'))
  const record = writerRecord(cloud.store, replica)
  assert.equal(await cloud.apply(bootstrap, removeWriter(replica)), 'remove-writer: the last indexer stays')
  assert.deepEqual(writerRecord(cloud.store, replica), record)
  assert.deepEqual(cloud.host.removed, [])
  assert.equal(await cloud.apply(replica, addWriter(WRITERS[2] as Buffer, true)), null, 'and keeps its rights')
  // The bootstrap writer, which has no record, is refused the same way and keeps none.
  cloud.host.keep.add(bootstrap.toString('hex'))
  assert.equal(await cloud.apply(replica, removeWriter(bootstrap)), 'remove-writer: the last indexer stays')
  assert.equal(writerRecord(cloud.store, bootstrap), undefined)
})

test('random ops from random writers never throw, keep the index well-formed, and keep the host and the writer records in step', async () => {
  const keys = [...WRITERS, ...pool('outsider', 0x20, 2)]
  const anyKey = fc.constantFrom(...keys)
  const clock = fc.oneof(fc.nat(12), fc.constantFrom(MAX_LAMPORT, MAX_LAMPORT + 1), fc.maxSafeNat())
  const path = fc.oneof(fc.constantFrom(...PATHS, '/a/../b', '/a/', '', 'a', '/a\0'), fc.string({ maxLength: 6 }).map((p) => '/' + p))
  const opArb: fc.Arbitrary<HostedOp> = fc.oneof(
    fc.record({ type: fc.constant(HostedOpType.PUT), clock, path, blobCore: anyKey, blockOffset: fc.nat(9), blockLength: fc.nat(9), byteOffset: fc.nat(), byteLength: fc.nat(), mtimeMs: fc.nat(), sha256: anyKey }),
    fc.record({ type: fc.constant(HostedOpType.DELETE), clock, path }),
    fc.record({ type: fc.constant(HostedOpType.ADD_WRITER), key: anyKey, device: fc.boolean(), nodeId: anyKey }),
    fc.record({ type: fc.constant(HostedOpType.REMOVE_WRITER), key: anyKey })
  )
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(anyKey, opArb), { maxLength: 60, size: 'max' }), fc.subarray(keys), async (ops, kept) => {
    const bootstrap = WRITERS[0] as Buffer
    const cloud = hostedCloud(bootstrap)
    const calls: Array<[string, 'add' | 'remove']> = []
    const inner = cloud.host
    for (const key of kept) inner.keep.add(key.toString('hex'))
    const host: WriterHost = {
      async addWriter (key, opts) { calls.push([key.toString('hex'), 'add']); await inner.addWriter(key, opts) },
      async removeWriter (key) { const removed = await inner.removeWriter(key); if (removed) calls.push([key.toString('hex'), 'remove']); return removed }
    }
    await applyHostedNodes(ops.map(([from, op]) => hostedNode(from, op)), cloud.store, host, cloud.ctx)
    for (const [key, value] of cloud.store.entries) {
      if (key.startsWith(HostedKey.writerPrefix)) {
        if (value.byteLength > 0) assert.deepEqual(encodeRecord(hostedWriterRecordCodec, decodeRecord(hostedWriterRecordCodec, value)), value)
        continue
      }
      const file = decodeRecord(fileRecordCodec, value)
      if (key.startsWith('!h')) {
        const path = key.slice(2, key.indexOf('\0'))
        assert.equal(normalHostedPath(path), path, `${JSON.stringify(key)} is the history of a file path`)
        assert.equal(key, HostedKey.write(path, file.clock, file.writer), 'a history key names its write')
        continue
      }
      assert.equal(normalHostedPath(key), key, `${JSON.stringify(key)} is a file path`)
      assert.ok(file.clock <= MAX_LAMPORT, `${key}: clock ${file.clock}`)
      if (file.deleted) assert.deepEqual({ ...file, clock: 0, writer: ZERO }, recordOf(ZERO, del(0, key)), 'a tombstone carries no bytes')
    }
    assert.ok(cloud.clocks.every((c) => c <= MAX_LAMPORT), 'no clock beyond MAX_LAMPORT reaches the writer')
    // A writer is live in the view exactly when the host's last word on it was an add (the bootstrap one until removed).
    for (const key of keys) {
      const hex = key.toString('hex')
      const last = calls.filter(([k]) => k === hex).at(-1)?.[1]
      const record = writerRecord(cloud.store, key)
      const live = record !== undefined ? record !== 'removed' : key.equals(bootstrap)
      assert.equal(live, last === undefined ? key.equals(bootstrap) : last === 'add', `writer ${hex.slice(0, 8)}`)
    }
  }), runs(300))
})

// ---- garbage ---------------------------------------------------------------------------------

const undecodable = (bytes: unknown) => {
  try {
    decodeHostedOp(bytes)
    return false
  } catch {
    return true
  }
}

const validHostedOp = fc.oneof(
  fc.tuple(fc.nat(9), fc.constantFrom(...PATHS)).map(([clock, path]) => put(clock, path)),
  fc.tuple(fc.nat(9), fc.constantFrom(...PATHS)).map(([clock, path]) => del(clock, path)),
  fc.tuple(fc.constantFrom(...WRITERS), fc.boolean()).map(([key, device]) => addWriter(key, device, Buffer.alloc(32, 7))),
  fc.constantFrom(...WRITERS).map(removeWriter)
)

/** Random bytes, ops with a real header over random bodies, and valid ops cut short or grown. */
const garbageValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(fc.nat(6), fc.uint8Array({ maxLength: 160 })).map(([type, body]) => Uint8Array.from([HOSTED_OP_VERSION, type, ...body])),
    fc.tuple(validHostedOp, fc.nat()).map(([op, at]) => { const bytes = encodeHostedOp(op); return bytes.subarray(0, at % bytes.length) }),
    fc.tuple(validHostedOp, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([op, extra]) => Buffer.concat([encodeHostedOp(op), extra])),
    validHostedOp.map((op) => { const bytes = Buffer.from(encodeHostedOp(op)); bytes[0] = HOSTED_OP_VERSION + 1; return bytes })
  ).filter(undecodable),
  fc.constant(undefined),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.record({ type: fc.nat(5) })
)

test('garbage and truncated ops are skipped and reported, without throwing, and change nothing', async () => {
  const [bootstrap] = WRITERS as [Buffer]
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.constantFrom(...WRITERS), validHostedOp), { maxLength: 30 }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(...WRITERS), garbageValue), { maxLength: 15 }),
    async (ops, garbage) => {
      const clean = ops.map(([from, op]): HostedInputNode => hostedNode(from, op))
      const dirty = [...clean]
      for (const [at, from, value] of garbage) dirty.splice(at % (dirty.length + 1), 0, { value, from: { key: from } })
      dirty.push({ value: null, from: { key: bootstrap } }) // an Autobase ack: nothing, and not a skip
      const a = hostedCloud(bootstrap)
      const b = hostedCloud(bootstrap)
      await a.applyAll(clean)
      await b.applyAll(dirty)
      assert.equal(dump(b.store), dump(a.store), 'garbage changed the index')
      assert.deepEqual([b.host.added, b.host.removed], [a.host.added, a.host.removed], 'garbage changed the writers')
      assert.equal(b.skips.length - a.skips.length, garbage.length, 'every garbage op is reported')
    }
  ), runs(300))
})

test('every truncation of every op type is skipped', async () => {
  const ops = [put(3, '/dir/file'), del(4, '/dir/file'), addWriter(WRITERS[1] as Buffer, false), removeWriter(WRITERS[1] as Buffer)]
  assert.deepEqual(new Set(ops.map((op) => op.type)), new Set(Object.values(HostedOpType)))
  const cloud = hostedCloud()
  for (const op of ops) {
    const bytes = encodeHostedOp(op)
    for (let end = 0; end < bytes.length; end++) {
      const reason = await cloud.apply(WRITERS[0] as Buffer, { raw: bytes.subarray(0, end) })
      assert.match(reason ?? 'applied', /^[A-Z_]+: /, `${op.type} cut at ${end}`)
    }
  }
  assert.equal(cloud.store.entries.size, 0)
  assert.deepEqual(cloud.host.added, [])
})

// ---- the cluster log: CLOUD_HOSTED and CLOUD_WRITER ------------------------------------------

const ctx: ApplyContext = { maxIndexers: 3 }
const writerA = randomBytes(32)
const writerB = randomBytes(32)
const nodeA = randomBytes(32)
const nodeB = randomBytes(32)
const announce = (from: Buffer, nodeId: Buffer): InputNode => node(from, { type: OpType.ANNOUNCE, lamport: 1, nodeId, url: 'http://x', zone: 'z', capacity: 1 })
const hosted = (lamport: number, key: Buffer, base: Buffer, tokenHash: Buffer): Op => ({ type: OpType.CLOUD_HOSTED, lamport, key, base, tokenHash })
const cloudWriter = (lamport: number, key: Buffer, nodeId: Buffer, writerKey: Buffer): Op => ({ type: OpType.CLOUD_WRITER, lamport, key, nodeId, writerKey })

async function clusterView (setup: InputNode[] = []) {
  const store = new MemoryViewStore()
  await applyNodes(setup, store, hostFor(), ctx)
  const apply = async (from: Buffer, op: Op) => await applyRaw(encodeOp(op), from, store, hostFor(), ctx)
  return { store, apply }
}

test('cloud-hosted: a newer stamp rotates the token; a stale one and another base are refused', async () => {
  const cloud = randomBytes(32)
  const [base, other, t1, t2, t3] = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)]
  const { store, apply } = await clusterView()
  assert.equal((await apply(writerA, hosted(1, cloud, base, t1))).applied, true)
  assert.equal((await apply(writerB, hosted(2, cloud, base, t2))).applied, true, 'any writer may rotate the token with a newer stamp')
  assert.deepEqual(await apply(writerA, hosted(1, cloud, base, t3)), { applied: false, reason: 'cloud-hosted: stale' })
  const before = dump(store)
  assert.deepEqual(await apply(writerA, hosted(9, cloud, other, t3)), { applied: false, reason: 'cloud-hosted: the cloud has another base' },
    'a newer stamp does not move the data')
  assert.equal(dump(store), before)
  const snap = await readSnapshot(await applyCloudAdd(store, cloud))
  const view = snap.cloudByKey.get(cloud.toString('hex'))?.hosted
  assert.deepEqual([view?.base, view?.tokenHash], [base, t2])
})

test('cloud-hosted: rotations land the same in any order; of two bases for one cloud, the first applied stands', async () => {
  const cloud = randomBytes(32)
  const [base, other] = [randomBytes(32), randomBytes(32)]
  const rotations = [hosted(1, cloud, base, Buffer.alloc(32, 1)), hosted(3, cloud, base, Buffer.alloc(32, 3)), hosted(2, cloud, base, Buffer.alloc(32, 2))]
  const views = new Set<string>()
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0]]) {
    const { store, apply } = await clusterView()
    for (const i of order) await apply(writerA, rotations[i] as Op)
    views.add(dump(store))
  }
  assert.equal(views.size, 1)
  // Not order free, and not meant to be (honest nodes never write it: hosted cloud keys are fresh).
  for (const [first, second] of [[base, other], [other, base]] as Array<[Buffer, Buffer]>) {
    const { store, apply } = await clusterView()
    await apply(writerA, hosted(5, cloud, first, ZERO))
    assert.equal((await apply(writerB, hosted(6, cloud, second, ZERO))).applied, false)
    assert.deepEqual(hostedAt(store, cloud).base, first)
  }
})

test('cloud-writer: only the node itself may, last-writer-wins', async () => {
  const cloud = randomBytes(32)
  const [k1, k2, k3] = [randomBytes(32), randomBytes(32), randomBytes(32)]
  const { store, apply } = await clusterView([announce(writerA, nodeA)])
  assert.deepEqual(await apply(writerA, cloudWriter(1, cloud, nodeB, k1)), { applied: false, reason: 'cloud-writer: unknown node' })
  assert.deepEqual(await apply(writerB, cloudWriter(1, cloud, nodeA, k1)), { applied: false, reason: 'cloud-writer: not written by the node itself' })
  assert.equal(store.entries.has(ViewKey.cloudWriter(cloud, nodeA)), false)
  assert.deepEqual(await apply(writerA, cloudWriter(2, cloud, nodeA, k1)), { applied: true })
  assert.deepEqual(await apply(writerA, cloudWriter(1, cloud, nodeA, k2)), { applied: false, reason: 'cloud-writer: stale' })
  assert.equal((await apply(writerA, cloudWriter(3, cloud, nodeA, k3))).applied, true)
  assert.deepEqual(cloudWriterAt(store, cloud, nodeA).writerKey, k3)
})

test('readSnapshot shows a hosted cloud with its writers; refreshSnapshot follows rotations and new writers', async () => {
  const hostedKey = randomBytes(32)
  const plainKey = randomBytes(32)
  const orphanKey = randomBytes(32)
  const [base, token, keyA, keyB] = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)]
  const inner = new MemoryViewStore()
  const store = new ChangeTrackingStore(inner)
  const ops: Array<[Buffer, Op]> = [
    [writerA, { type: OpType.CLOUD_ADD, lamport: 2, key: hostedKey, replicas: 2 }],
    [writerA, { type: OpType.CLOUD_ADD, lamport: 2, key: plainKey, replicas: 1 }],
    [writerA, hosted(3, hostedKey, base, token)],
    [writerA, hosted(4, orphanKey, base, token)], // hosted, but no cloud record: not a cloud of the bevy
    [writerA, cloudWriter(5, hostedKey, nodeA, keyA)],
    [writerB, cloudWriter(6, plainKey, nodeB, keyB)] // a writer for a cloud that is not hosted: ignored
  ]
  await applyNodes([announce(writerA, nodeA), announce(writerB, nodeB), ...ops.map(([from, op]) => node(from, op))], store, hostFor(), ctx)
  const snap = await readSnapshot(inner)
  const view = snap.cloudByKey.get(hostedKey.toString('hex'))
  assert.deepEqual(hostedOf(view?.hosted), { base, tokenHash: token, writers: new Map([[nodeA.toString('hex'), keyA]]) })
  assert.equal(snap.cloudByKey.get(plainKey.toString('hex'))?.hosted, undefined)
  assert.equal(snap.cloudByKey.has(orphanKey.toString('hex')), false)
  assert.equal(snap.maxLamport, 6, 'hosted and cloud-writer stamps count towards the clock')

  store.takeChanges()
  const newToken = randomBytes(32)
  await applyNodes([node(writerA, hosted(7, hostedKey, base, newToken)), node(writerB, cloudWriter(8, hostedKey, nodeB, keyB))], store, hostFor(), ctx)
  const refreshed = await refreshSnapshot(snap, inner, store.takeChanges())
  assert.deepEqual(hostedOf(refreshed.cloudByKey.get(hostedKey.toString('hex'))?.hosted),
    { base, tokenHash: newToken, writers: new Map([[nodeA.toString('hex'), keyA], [nodeB.toString('hex'), keyB]]) })
  assert.deepEqual(refreshed, await readSnapshot(inner))
  assert.deepEqual(view?.hosted?.tokenHash, token, 'the old snapshot is untouched')
})

/** The fields of a HostedView these tests are about. */
function hostedOf (hosted: HostedView | undefined) {
  return hosted === undefined ? undefined : { base: hosted.base, tokenHash: hosted.tokenHash, writers: hosted.writers }
}

async function applyCloudAdd (store: MemoryViewStore, key: Buffer): Promise<MemoryViewStore> {
  await applyRaw(encodeOp({ type: OpType.CLOUD_ADD, lamport: 1, key, replicas: 1 }), writerA, store, hostFor(), ctx)
  return store
}

function hostedAt (store: MemoryViewStore, cloud: Buffer) {
  const value = store.entries.get(ViewKey.hosted(cloud))
  assert.ok(value !== undefined, 'the cloud is hosted')
  return decodeRecord(hostedRecordCodec, value)
}

function cloudWriterAt (store: MemoryViewStore, cloud: Buffer, nodeId: Buffer) {
  const value = store.entries.get(ViewKey.cloudWriter(cloud, nodeId))
  assert.ok(value !== undefined, 'the node named a writer key')
  return decodeRecord(cloudWriterRecordCodec, value)
}
