// `bevy push DIR`: the owner's tool. Mirrors a folder into the owner's drive, registers it as a
// cloud, and seeds it until the bevy holds the new version (one replica, or all with --wait).
import { stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import cliProgress from 'cli-progress'
import { Command } from 'commander'
import { BevyError, ErrorCode, formatKey, MAX_REPLICAS } from '../../protocol/index.js'
import type { CloudInfo, ReplicaInfo } from '../bevy.js'
import { parseBootstrap, parseIntSetting } from '../config.js'
import { OwnerDrive } from '../owner/owner-drive.js'
import { keepFilesPrivate, readNodeFile } from '../storage.js'
import { adminRequest, resolveTarget, type AdminTarget } from './admin-client.js'
import { adminOptions, option, parseDuration } from './options.js'

export const DEFAULT_OWNER_STORAGE = join(homedir(), '.cloud-bevy-owner')
const POLL_MS = 500

type PushOpts = { storage: string, url?: string, token?: string, ownerStorage: string, replicas: string, bootstrap?: string, wait?: boolean, timeout: string }

export function pushCommand (): Command {
  const cmd = adminOptions(new Command('push')
    .description('mirror a folder into your drive, register it as a cloud and seed it until the bevy has it')
    .argument('<dir>', 'the folder to publish'))
  option(cmd, '--owner-storage <dir>', 'where your drives and their keys live', DEFAULT_OWNER_STORAGE)
  option(cmd, '--replicas <n>', `replicas to keep, 1 to ${MAX_REPLICAS}`, '3')
  option(cmd, '--bootstrap <host:port,...>', 'private DHT bootstrap nodes (default: the local node\'s, else the public DHT)')
  option(cmd, '--wait', 'stay online until every replica has this version (default: until one has)', false)
  option(cmd, '--timeout <duration>', 'give up seeding after this long', '10m')
  cmd.action(async (dir: string, opts: PushOpts) => {
    keepFilesPrivate()
    const replicas = parseIntSetting('replicas', opts.replicas, 1, MAX_REPLICAS)
    const timeoutMs = parseDuration(opts.timeout, '--timeout')
    await requireFolder(dir)
    const target = await resolveTarget(opts)
    // Seed on the DHT the bevy uses: the one given, else the local node's own.
    const bootstrap = opts.bootstrap ?? (opts.url === undefined ? (await readNodeFile(opts.storage))?.bootstrap ?? null : null)
    const owner = new OwnerDrive({ storage: opts.ownerStorage, folder: dir, bootstrap: bootstrap === null ? null : parseBootstrap(bootstrap) })
    try {
      await owner.ready()
      const summary = await owner.mirror()
      const key = formatKey(owner.drive.key)
      log(`mirrored ${owner.folder}: ${summary.added} added, ${summary.changed} changed, ${summary.removed} removed (version ${owner.drive.version})`)
      await owner.seed()
      const info = await adminRequest<CloudInfo>(target, 'POST', '/api/clouds', { key, replicas })
      const needed = opts.wait === true ? info.replicas : 1
      await waitForReplicas(target, key, owner, needed, timeoutMs)
      const url = info.placement[0]?.url ?? target.url
      process.stdout.write(`${key}\n${url.replace(/\/$/, '')}/c/${key}/\n`)
    } finally {
      await owner.close()
    }
  })
  return cmd
}

async function requireFolder (dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null)
  if (info === null || !info.isDirectory()) throw new BevyError(ErrorCode.BAD_REQUEST, `${dir} is not a folder`)
}

/** A replica that has every block of `version` or later. */
export function hasVersion (r: ReplicaInfo, version: number): boolean {
  return r.role === 'target' && r.state === 'synced' && r.version >= version
}

/** Seeds until `needed` target replicas hold the drive's current version, with a progress bar. */
export async function waitForReplicas (target: AdminTarget, key: string, owner: OwnerDrive, needed: number, timeoutMs: number): Promise<void> {
  const version = owner.drive.version
  const bar = new cliProgress.SingleBar({
    format: 'syncing  {bar} {synced}/{needed} replicas  {percentage}% of bytes  {peers} peers',
    stream: process.stderr,
    noTTYOutput: false,
    hideCursor: true
  }, cliProgress.Presets.shades_classic)
  const tty = process.stderr.isTTY === true
  if (tty) bar.start(100, 0, { synced: 0, needed, peers: 0 })
  const deadline = Date.now() + timeoutMs
  let reported = -1
  try {
    for (;;) {
      const info = await adminRequest<CloudInfo>(target, 'GET', `/api/clouds/${key}`)
      const targets = info.placement.filter((r) => r.role === 'target')
      const synced = targets.filter((r) => hasVersion(r, version)).length
      const fraction = targets.length === 0 ? 0 : targets.reduce((sum, r) => sum + (r.version >= version ? r.progress : 0), 0) / targets.length
      if (tty) bar.update(Math.floor(fraction * 100), { synced, needed, peers: owner.peers })
      else if (synced !== reported) log(`${synced}/${needed} replicas synced`)
      reported = synced
      if (synced >= needed) break
      if (Date.now() > deadline) {
        throw new BevyError(ErrorCode.NODE_UNREACHABLE, `${synced} of ${needed} replicas have version ${version} after ${Math.round(timeoutMs / 1000)}s; run \`bevy push\` again to keep seeding`)
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    if (tty) bar.update(100)
  } finally {
    if (tty) bar.stop()
  }
  log(`${needed === 1 ? 'a replica has' : `${needed} replicas have`} version ${version}`)
}

function log (line: string): void {
  process.stderr.write(line + '\n')
}
