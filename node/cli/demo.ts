// `bevy demo`: a whole bevy on loopback (a private DHT and N node processes) in temp storage.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { BevyError, ErrorCode } from '../../protocol/index.js'
import { parseIntSetting } from '../config.js'
import { startPrivateDht } from '../dht.js'
import { createLogger } from '../log.js'
import { readAdminToken } from '../storage.js'
import { adminRequest } from './admin-client.js'
import { option } from './options.js'
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
  const common = (i: number) => ['--storage', join(dir, `node-${i}`), '--port', String(basePort + i), '--host', '127.0.0.1',
    '--bootstrap', dht.bootstrap, '--zone', `zone-${String.fromCharCode(97 + (i % 3))}`, '--log-level', 'warn']
  const stopAll = async () => {
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
    process.stdout.write([
      '',
      `bevy ${first.bevy} is up with ${count} node${count === 1 ? '' : 's'}:`,
      ...ready.map((r) => `  ${r.url}   (node ${r.id.slice(0, 12)}…)`),
      '',
      'Try:',
      `  curl -L ${first.url}/api/health`,
      `  curl -L -H "Authorization: Bearer ${token}" ${first.url}/api/status`,
      `  npx bevy status --storage ${join(dir, 'node-0')}`,
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
