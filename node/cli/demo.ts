// `bevy demo`: a whole bevy on loopback (a private DHT and N node processes) in temp storage.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { BevyError, ErrorCode, formatKey } from '../../protocol/index.js'
import type { CloudInfo } from '../bevy.js'
import { parseBootstrap, parseIntSetting } from '../config.js'
import { startPrivateDht } from '../dht.js'
import { createLogger } from '../log.js'
import { OwnerDrive } from '../owner/owner-drive.js'
import { readAdminToken } from '../storage.js'
import { adminRequest } from './admin-client.js'
import { option } from './options.js'
import { waitForReplicas } from './push.js'
import { writeSampleCloud } from './sample-cloud.js'
import { untilShutdown } from './shutdown.js'
import { spawnNode, type NodeProcess } from './spawn.js'

export function demoCommand (onExit: (code: number) => void): Command {
  const cmd = new Command('demo').description('run a private DHT and N nodes on loopback; Ctrl-C stops it all')
  option(cmd, '--nodes <n>', 'how many nodes', '3')
  option(cmd, '--base-port <n>', 'HTTP port of the first node; the others count up', '7420')
  cmd.action(async (opts: { nodes: string, basePort: string }) => {
    const count = parseIntSetting('nodes', opts.nodes, 1, 50)
    const basePort = parseIntSetting('basePort', opts.basePort, 1, 65535 - count)
    onExit(await runDemo(count, basePort))
  })
  return cmd
}

async function runDemo (count: number, basePort: number): Promise<number> {
  const log = createLogger({ level: 'warn' })
  const dir = await mkdtemp(join(tmpdir(), 'bevy-demo-'))
  const dht = await startPrivateDht({ port: 0 })
  const nodes: NodeProcess[] = []
  let owner: OwnerDrive | null = null
  const common = (i: number) => ['--storage', join(dir, `node-${i}`), '--port', String(basePort + i), '--host', '127.0.0.1',
    '--bootstrap', dht.bootstrap, '--zone', `zone-${String.fromCharCode(97 + (i % 3))}`, '--log-level', 'warn']
  const stopAll = async () => {
    if (owner !== null) await owner.close()
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')))
    await dht.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    process.stdout.write(`private DHT on ${dht.bootstrap}\nstarting ${count} nodes in ${dir} …\n`)
    const founder = spawnNode(common(0))
    nodes.push(founder)
    const first = await founder.ready
    const token = await readAdminToken(first.storage)
    if (token === null) throw new BevyError(ErrorCode.STORAGE, 'founder wrote no admin token')
    if (count > 1) {
      const { invite } = await adminRequest<{ invite: string }>({ url: first.url, token }, 'POST', '/api/invites', { uses: count - 1, ttlMs: 3600_000 })
      for (let i = 1; i < count; i++) nodes.push(spawnNode([...common(i), '--join', invite]))
    }
    const ready = await Promise.all(nodes.map((n) => n.ready))

    // The sample cloud, published the way an owner would with `bevy push`; this process seeds it.
    const sample = join(dir, 'sample-cloud')
    await writeSampleCloud(sample)
    owner = new OwnerDrive({ storage: join(dir, 'owner'), folder: sample, bootstrap: parseBootstrap(dht.bootstrap) })
    await owner.ready()
    await owner.mirror()
    await owner.seed()
    const key = formatKey(owner.drive.key)
    const target = { url: first.url, token }
    const cloud = await adminRequest<CloudInfo>(target, 'POST', '/api/clouds', { key, replicas: Math.min(3, count) })
    process.stdout.write(`publishing a sample cloud ${key} …\n`)
    await waitForReplicas(target, key, owner, cloud.replicas, 120_000)
    // Ask a node that holds no copy when there is one, so the curl line shows the redirect.
    const placed = new Set(cloud.placement.map((r) => r.url))
    const entry = ready.find((r) => !placed.has(r.url)) ?? first
    process.stdout.write([
      '',
      `bevy ${first.bevy} is up with ${count} node${count === 1 ? '' : 's'}:`,
      ...ready.map((r) => `  ${r.url}   (node ${r.id.slice(0, 12)}…)`),
      '',
      `sample cloud ${key} on ${cloud.replicas} replica${cloud.replicas === 1 ? '' : 's'}`,
      '',
      'Try:',
      `  curl -L ${entry.url}/c/${key}/`,
      `  curl -L ${entry.url}/c/${key}/notes/2026/hello.txt`,
      `  curl -L ${first.url}/api/health`,
      `  curl -L -H "Authorization: Bearer ${token}" ${first.url}/api/status`,
      `  npx bevy status --storage ${join(dir, 'node-0')}`,
      `  npx bevy cloud show ${key} --storage ${join(dir, 'node-0')}`,
      '',
      'Ctrl-C stops everything.',
      ''
    ].join('\n'))
  } catch (err) {
    await stopAll()
    throw err
  }
  await untilShutdown(log, 10_000, stopAll)
  process.stdout.write('demo stopped\n')
  return 0
}
