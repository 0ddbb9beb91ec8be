// Shared by the apply tests: ops wrapped as Autobase hands them to apply, a writer host that
// records what apply asked of it, and a canonical dump to compare views by.
import type { InputNode } from '../node/view/apply.js'
import type { MemoryViewStore, WriterHost } from '../node/view/view-store.js'
import { encodeOp, type Op } from '../protocol/index.js'

/** A host that logs writers added (hex, indexer) and removed (hex), and always lets a writer go. */
export const hostFor = (added: Array<[string, boolean]> = [], removed: string[] = []): WriterHost => ({
  async addWriter (key, { indexer }) { added.push([key.toString('hex'), indexer]) },
  async removeWriter (key) { removed.push(key.toString('hex')); return true }
})

/** `op` as an Autobase node written by `from`. */
export const node = (from: Buffer, op: Op): InputNode => ({ value: encodeOp(op), from: { key: from } })

/** Every entry in key order, values in hex: equal strings mean equal views. */
export function dump (store: MemoryViewStore): string {
  return JSON.stringify([...store.entries].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.toString('hex')]))
}
