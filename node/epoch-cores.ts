// Which of an old epoch's cores may be deleted now. Closing the old log only ends its sessions:
// Corestore keeps a core open while any peer still replicates it (a peer's channel lingers
// 20-40 s once nobody downloads), then for up to 8 s more until its GC. Such a core, its storage
// deleted under it, still answers peers from memory, and a peer that asks it for a block (a node
// back from an older epoch, which lacks the last blocks of it) makes it read a deleted Merkle
// node: INVALID_OPERATION tears the whole connection down, pings and all, and the returning node,
// cut off at every reconnect, never hears of the current epoch. So a core is deleted only once the
// store has let go of it; until then it keeps serving what it has, which is what such a node needs.
import { discoveryKey } from 'hypercore-crypto'
import type Corestore from 'corestore'

/** Corestore's CoreTracker: every core it holds open, by discovery key (hex). */
interface CoreTracker { map: Map<string, unknown> }

const trackerOf = (store: Corestore): CoreTracker => (store as unknown as { cores: CoreTracker }).cores

/** Splits `keys` into the cores the store no longer holds (safe to delete) and those it still does. */
export function splitHeldCores (store: Corestore, keys: Buffer[]): { free: Buffer[], held: Buffer[] } {
  const { map } = trackerOf(store)
  const free: Buffer[] = []
  const held: Buffer[] = []
  for (const key of keys) (map.has(discoveryKey(key).toString('hex')) ? held : free).push(key)
  return { free, held }
}
