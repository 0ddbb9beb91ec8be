// Disk accounting: what the node's storage uses and what the filesystem has free.
import { readdir, lstat, statfs } from 'node:fs/promises'
import { join } from 'node:path'

/** Bytes a directory tree occupies on disk (allocated blocks, so sparse files count as they are). */
export async function dirBytes (dir: string): Promise<number> {
  let total = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0 // gone or unreadable: it holds nothing we can count
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(path)
    else total += await lstat(path).then((s) => s.blocks * 512, () => 0)
  }
  return total
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (0 if unknown). */
export async function freeDiskBytes (dir: string): Promise<number> {
  try {
    const s = await statfs(dir)
    return Math.min(Number.MAX_SAFE_INTEGER, s.bavail * s.bsize)
  } catch {
    return 0
  }
}
