// Closing an old epoch's cores for good before their storage is deleted (node/delete-cores.ts
// wants them closed). Closing the old log only ends its sessions: Corestore keeps a core open
// while any peer still replicates it (a peer's channel lingers 20-40 s once nobody downloads),
// then for up to 8 s more until its GC. Such a core, its storage gone, still answers peers from
// memory, and a peer that asks it for a block (a node back from an older epoch, which lacks the
// last blocks of it) makes it read a deleted Merkle node: INVALID_OPERATION tears the whole
// connection down, pings and all. The returning node reconnects, asks again and is cut off
// again, which also keeps the core from ever going idle, so it never hears of the current epoch.
import { discoveryKey } from 'hypercore-crypto'
import type Corestore from 'corestore'

/** What this needs of a hypercore Core (lib/core.js), the object Corestore holds per core. */
interface HeldCore { closing: Promise<void> | null, hasSession (): boolean, close (): Promise<void> }
/** Corestore's CoreTracker: every core it holds open, by discovery key (hex). */
interface CoreTracker { map: Map<string, HeldCore> }

const trackerOf = (store: Corestore): CoreTracker => (store as unknown as { cores: CoreTracker }).cores

/**
 * Closes the cores among `keys` that the store still holds with no session left, as its GC would,
 * and returns the keys that may be deleted now. A core some session still uses is left out: its
 * storage must stay.
 */
export async function closeHeldCores (store: Corestore, keys: Buffer[]): Promise<Buffer[]> {
  const tracker = trackerOf(store)
  const free: Buffer[] = []
  const closing: Array<Promise<void>> = []
  for (const key of keys) {
    const id = discoveryKey(key).toString('hex')
    const core = tracker.map.get(id)
    if (core !== undefined && core.hasSession()) continue
    free.push(key)
    if (core === undefined) continue
    // Like Corestore's GC: a failed close still forgets the core, so nothing serves it again.
    const forget = (): void => { if (tracker.map.get(id) === core) tracker.map.delete(id) }
    closing.push(core.close().then(forget, forget))
  }
  await Promise.all(closing)
  return free
}
