// The files a node keeps in --storage besides its Corestore:
//   node.json    where this node serves (read by admin commands)
//   admin.token  the operator bearer token, mode 0600
//   bevy.json    which bevy this node belongs to; written only once founding or pairing succeeded
//   carry.json   fleet mode: what a node moving to the fleet's surviving bevy brings along
//   running      present while a node runs; found at start, it says the last run did not stop cleanly
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BevyError, ErrorCode, formatKey, parseKey } from '../protocol/index.js'

export interface NodeFile {
  id: string
  url: string
  bevy: string
  pid: number
  /** The node's private DHT bootstrap as HOST:PORT[,…], or null for the public DHT; `bevy push` reuses it. */
  bootstrap?: string | null
}
/**
 * `key` names the bevy for good (its topic, its invites); `epoch` is the log it writes to now,
 * absent until the first rotation (epoch 0's log is the bevy key's, in `namespace`).
 */
export interface BevyFile { key: Buffer, namespace: string, epoch?: { epoch: number, key: Buffer, namespace: string } }

export const paths = (storage: string) => ({
  corestore: join(storage, 'corestore'),
  nodeFile: join(storage, 'node.json'),
  adminToken: join(storage, 'admin.token'),
  bevyFile: join(storage, 'bevy.json'),
  carryFile: join(storage, 'carry.json'),
  runningMark: join(storage, 'running')
})

/** What a node leaving a merged-away bevy replays into the surviving one: nothing registered is lost. */
export interface CarryFile { from: string, clouds: Array<{ key: string, replicas: number }>, drained: string[] }

export async function readCarryFile (storage: string): Promise<CarryFile | null> {
  const text = await readTextOrNull(paths(storage).carryFile)
  if (text === null) return null
  try {
    return JSON.parse(text) as CarryFile
  } catch (err) {
    throw new BevyError(ErrorCode.STORAGE, `${paths(storage).carryFile} is corrupt`, { cause: err })
  }
}

export async function writeCarryFile (storage: string, carry: CarryFile): Promise<void> {
  await writeFileAtomic(paths(storage).carryFile, JSON.stringify(carry, null, 2) + '\n')
}

export async function removeCarryFile (storage: string): Promise<void> {
  await rm(paths(storage).carryFile, { force: true })
}

/**
 * Marks the storage as in use by a running node and says whether the mark was already there: then
 * the last run ended without a clean stop (a crash, SIGKILL, power loss). Call it once the store's
 * lock is held, so a second process on the same storage cannot take the first one's mark.
 */
export async function markRunning (storage: string): Promise<boolean> {
  const path = paths(storage).runningMark
  const crashed = await readTextOrNull(path) !== null
  // No fsync: a process that dies leaves the file in the page cache, and a fleet booting at once
  // shares one disk, where each fsync is one more wait before a node can start.
  await writeFile(path, `${process.pid}\n`)
  return crashed
}

/** Removes the running mark: the node closed everything it had open. */
export async function clearRunningMark (storage: string): Promise<void> {
  await rm(paths(storage).runningMark, { force: true })
}

/** Leaves the bevy in storage behind (kept aside, not deleted), so the next start pairs anew. */
export async function retireBevyFile (storage: string, bevyKey: Buffer): Promise<void> {
  await rename(paths(storage).bevyFile, join(storage, `bevy.${formatKey(bevyKey).slice(0, 12)}.left.json`))
}

export async function ensureStorage (storage: string): Promise<void> {
  try {
    await mkdir(storage, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new BevyError(ErrorCode.STORAGE, `cannot create storage directory ${storage}`, { cause: err })
  }
}

/**
 * Makes every file this process creates private to its user (0600 files, 0700 directories):
 * node and owner storage hold keys and tokens, and RocksDB creates its files with the umask.
 */
export function keepFilesPrivate (): void {
  process.umask(0o077)
}

/** Writes a file so that a crash leaves either the old or the new content, never half of one. */
export async function writeFileAtomic (path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const handle = await open(tmp, 'w', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
}

export async function loadOrCreateAdminToken (storage: string): Promise<string> {
  const path = paths(storage).adminToken
  const existing = await readTextOrNull(path)
  if (existing !== null && existing.trim().length > 0) {
    await chmod(path, 0o600)
    return existing.trim()
  }
  const token = randomBytes(32).toString('hex')
  await writeFileAtomic(path, token + '\n', 0o600)
  return token
}

export async function readAdminToken (storage: string): Promise<string | null> {
  return (await readTextOrNull(paths(storage).adminToken))?.trim() ?? null
}

export async function readBevyFile (storage: string): Promise<BevyFile | null> {
  const text = await readTextOrNull(paths(storage).bevyFile)
  if (text === null) return null
  try {
    const parsed = JSON.parse(text) as { key: string, namespace: string, epoch?: { epoch: number, key: string, namespace: string } }
    const file: BevyFile = { key: parseKey(parsed.key, 'bevy key'), namespace: String(parsed.namespace) }
    if (parsed.epoch !== undefined) {
      file.epoch = { epoch: Number(parsed.epoch.epoch), key: parseKey(parsed.epoch.key, 'epoch key'), namespace: String(parsed.epoch.namespace) }
    }
    return file
  } catch (err) {
    throw new BevyError(ErrorCode.STORAGE, `${paths(storage).bevyFile} is corrupt`, { cause: err })
  }
}

export async function writeBevyFile (storage: string, bevy: BevyFile): Promise<void> {
  const epoch = bevy.epoch === undefined ? undefined : { epoch: bevy.epoch.epoch, key: formatKey(bevy.epoch.key), namespace: bevy.epoch.namespace }
  const body = JSON.stringify({ key: formatKey(bevy.key), namespace: bevy.namespace, epoch }, null, 2) + '\n'
  await writeFileAtomic(paths(storage).bevyFile, body)
}

export async function readNodeFile (storage: string): Promise<NodeFile | null> {
  const text = await readTextOrNull(paths(storage).nodeFile)
  if (text === null) return null
  try {
    return JSON.parse(text) as NodeFile
  } catch {
    return null
  }
}

export async function writeNodeFile (storage: string, node: NodeFile): Promise<void> {
  await writeFileAtomic(paths(storage).nodeFile, JSON.stringify(node, null, 2) + '\n')
}

async function readTextOrNull (path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new BevyError(ErrorCode.STORAGE, `cannot read ${path}`, { cause: err })
  }
}

