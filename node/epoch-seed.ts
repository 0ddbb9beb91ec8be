// What a new epoch starts from: the durable records of the current view (SEEDED_PREFIXES),
// written as seed ops by the new log's bootstrap writer, after add-writer ops for every node that
// named its key for the new epoch. Node records are rebound to those keys, so each node keeps
// writing its own records there; a node that named none is bound later (a rebind).
import {
  decodeRecord, encodeRecord, hexKey, MAX_SEED_ENTRIES, NodeState, NO_INVITE, nextWriterRecordCodec,
  nodeRecordCodec, OpType, prefixEnd, SEEDED_PREFIXES, ViewKey, type Op, type SeedEntry
} from '../protocol/index.js'
import type { ViewStore } from './view/view-store.js'

const UNBOUND = Buffer.alloc(32)

/** Entries per seed op: well under MAX_SEED_ENTRIES, and small enough to keep one block modest. */
const SEED_ENTRIES_PER_OP = Math.min(MAX_SEED_ENTRIES, 512)

export interface SeedPlan {
  /** Add-writer ops, the bootstrap writer first, then nodes by id. */
  writers: Op[]
  /** Seed ops; the last one seals the epoch. */
  seeds: Op[]
}

export async function planSeed (view: ViewStore, opts: { epoch: number, selfId: Buffer, bootstrapKey: Buffer }): Promise<SeedPlan> {
  const nextKeys = await nextWriterKeys(view, opts.epoch)
  const selfHex = hexKey(opts.selfId)
  nextKeys.set(selfHex, opts.bootstrapKey)
  const writers: Op[] = [{ type: OpType.ADD_WRITER, key: opts.bootstrapKey, inviteId: NO_INVITE }]
  const entries: SeedEntry[] = []
  for (const prefix of SEEDED_PREFIXES) {
    for await (const { key, value } of view.range(prefix, prefixEnd(prefix))) {
      if (prefix !== ViewKey.nodePrefix) {
        entries.push({ key, value })
        continue
      }
      const node = decodeRecord(nodeRecordCodec, value)
      const idHex = hexKey(node.nodeId)
      const writerKey = nextKeys.get(idHex) ?? UNBOUND
      if (idHex !== selfHex && node.state === NodeState.ACTIVE && nextKeys.has(idHex)) {
        writers.push({ type: OpType.ADD_WRITER, key: writerKey, inviteId: NO_INVITE })
      }
      entries.push({ key, value: encodeRecord(nodeRecordCodec, { ...node, writerKey }) })
    }
  }
  const seeds: Op[] = []
  for (let i = 0; i < entries.length || seeds.length === 0; i += SEED_ENTRIES_PER_OP) {
    const batch = entries.slice(i, i + SEED_ENTRIES_PER_OP)
    seeds.push({ type: OpType.SEED, epoch: opts.epoch, entries: batch, done: i + SEED_ENTRIES_PER_OP >= entries.length })
  }
  return { writers, seeds }
}

/** node id (hex) → the writer key it named for `epoch`. */
async function nextWriterKeys (view: ViewStore, epoch: number): Promise<Map<string, Buffer>> {
  const keys = new Map<string, Buffer>()
  const prefix = ViewKey.nextWriterPrefix
  for await (const { key, value } of view.range(prefix, prefixEnd(prefix))) {
    const record = decodeRecord(nextWriterRecordCodec, value)
    if (record.epoch === epoch) keys.set(key.slice(prefix.length), record.writerKey)
  }
  return keys
}
