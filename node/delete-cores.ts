// Deletes whole cores from hypercore-storage: blocks, Merkle tree and bitfield alike. Clearing
// blocks leaves the tree (~60% of a log's bytes), and Hypercore#purge is broken in the hypercore
// we pin (it calls a method that no longer exists), so this goes to the storage's own deleteCore.
// That one (hypercore-storage 3.3) drops a core's record and its named sessions' data but not its
// main data range, where the blocks and tree live; measured, rotating epochs then grew the store
// by the whole old log every time. So the main range is deleted here too.
import { discoveryKey } from 'hypercore-crypto'
import type CoreStorage from 'hypercore-storage'
import { core as coreKeys } from 'hypercore-storage/lib/keys.js'

interface CorePointer { corePointer: number, dataPointer: number }
interface Auth { key: Buffer, manifest: { signers?: Array<{ publicKey: Buffer }> } | null }
interface StorageInternals {
  db: { write (opts: { autoDestroy: boolean }): { tryDeleteRange (start: Buffer, end: Buffer): void, flush (): Promise<void> } }
  resumeCore (discoveryKey: Buffer): Promise<{ core: CorePointer, close?: () => Promise<void> } | null>
  deleteCore (pointer: CorePointer): Promise<void>
  getAuth (discoveryKey: Buffer): Promise<Auth | null>
  createCoreStream (): AsyncIterable<{ discoveryKey: Buffer }>
}

const internalsOf = (storage: CoreStorage): StorageInternals => storage as unknown as StorageInternals

/** Deletes the cores (which must be closed) and returns how many were there. */
export async function deleteCores (storage: CoreStorage, keys: Buffer[]): Promise<number> {
  const internals = internalsOf(storage)
  let deleted = 0
  for (const key of keys) {
    const stored = await internals.resumeCore(discoveryKey(key))
    if (stored === null) continue
    const { dataPointer } = stored.core
    await internals.deleteCore(stored.core)
    const tx = internals.db.write({ autoDestroy: true })
    tx.tryDeleteRange(coreKeys.data(dataPointer), coreKeys.data(dataPointer + 1))
    await tx.flush()
    await stored.close?.()
    deleted++
  }
  return deleted
}

/**
 * Keys of the stored cores that belong to a set of writer cores: the writer cores themselves, and
 * every core signed only by their signing keys (an Autobase's view and system cores, including the
 * ones it left behind each time its indexer set changed). A core's key is the hash of its
 * manifest, not its signer's public key, so the signers are read from the writers' manifests. A
 * cloud's cores are signed by its owner, never by a cluster writer, so none is among them. Keys in
 * `keep` are left out.
 */
export async function coresOfWriters (storage: CoreStorage, writers: ReadonlySet<string>, keep: ReadonlySet<string>): Promise<Buffer[]> {
  const internals = internalsOf(storage)
  const stored: Auth[] = []
  for await (const { discoveryKey: dk } of internals.createCoreStream()) {
    const auth = await internals.getAuth(dk)
    if (auth !== null) stored.push(auth)
  }
  const signersOf = (auth: Auth): string[] => (auth.manifest?.signers ?? []).map((s) => s.publicKey.toString('hex'))
  const writerSigners = new Set(stored.filter((a) => writers.has(a.key.toString('hex'))).flatMap(signersOf))
  return stored.filter((auth) => {
    const hex = auth.key.toString('hex')
    if (keep.has(hex)) return false
    const signers = signersOf(auth)
    return writers.has(hex) || (signers.length > 0 && signers.every((s) => writerSigners.has(s)))
  }).map((auth) => auth.key)
}
