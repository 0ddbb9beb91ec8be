// Deletes whole cores from hypercore-storage: blocks, Merkle tree and bitfield alike. Clearing
// blocks leaves the tree (~60% of a log's bytes), and Hypercore#purge is broken in the hypercore
// we pin (it calls a method that no longer exists), so this goes to the storage's own deleteCore.
import { discoveryKey } from 'hypercore-crypto'
import type CoreStorage from 'hypercore-storage'

interface StorageInternals {
  resumeCore (discoveryKey: Buffer): Promise<{ core: unknown, close?: () => Promise<void> } | null>
  deleteCore (pointer: unknown): Promise<void>
}

/** Deletes the cores (which must be closed) and returns how many were there. */
export async function deleteCores (storage: CoreStorage, keys: Buffer[]): Promise<number> {
  const internals = storage as unknown as StorageInternals
  let deleted = 0
  for (const key of keys) {
    const stored = await internals.resumeCore(discoveryKey(key))
    if (stored === null) continue
    await internals.deleteCore(stored.core)
    await stored.close?.()
    deleted++
  }
  return deleted
}
