// `bevy start`: runs a node in the foreground until SIGINT/SIGTERM.
import { Command } from 'commander'
import { BevyError, ErrorCode } from '../../protocol/index.js'
import { startNode } from '../../router/server.js'
import {
  DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORAGE, DEFAULT_ZONE, flagName, parseBootstrap, parseIntSetting,
  TUNABLES, validateConfig, type NodeConfig, type RouteMode, type DeviceRequestPolicy, type TunableName, type Tunables
} from '../config.js'
import { createLogger } from '../log.js'
import { parseInvite } from '../pairing.js'
import { keepFilesPrivate, readBevyFile } from '../storage.js'
import { option } from './options.js'
import { untilShutdown } from './shutdown.js'

export interface ReadyMessage { type: 'ready', id: string, url: string, bevy: string, invite: string | null, storage: string }

export function startCommand (onExit: (code: number) => void): Command {
  const cmd = new Command('start').description('run a node in the foreground until SIGINT/SIGTERM')
  option(cmd, '--storage <dir>', 'where the node keeps its data', DEFAULT_STORAGE)
  option(cmd, '--port <n>', 'HTTP port', String(DEFAULT_PORT))
  option(cmd, '--host <addr>', 'HTTP bind address', DEFAULT_HOST)
  option(cmd, '--public-url <url>', 'URL other nodes and clients reach this node at (default: derived from host and port)')
  option(cmd, '--bootstrap <host:port,...>', 'private DHT bootstrap nodes (default: the public DHT)')
  option(cmd, '--join <invite>', 'join the bevy this invite belongs to')
  option(cmd, '--secret <s>', 'fleet mode: form one bevy with every machine sharing this secret')
  option(cmd, '--zone <name>', 'failure zone (replicas spread across zones)', DEFAULT_ZONE)
  option(cmd, '--capacity <bytes>', 'bytes offered for replicas (default: the free disk)')
  option(cmd, '--route <mode>', 'redirect or proxy requests for clouds held elsewhere', 'redirect')
  option(cmd, '--device-requests <policy>', 'an owner device asking to write to a hosted cloud: ask (wait for `bevy cloud approve`) or open (authorize it; trusted networks only)', 'ask')
  option(cmd, '--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
  option(cmd, '--log-pretty [on]', 'human-readable logs instead of JSON (BEVY_LOG_PRETTY=1 or true turns it on; 0 or false leaves JSON)', false)
  for (const [name, tunable] of Object.entries(TUNABLES)) {
    option(cmd, `--${flagName(name)} <n>`, tunable.doc, String(tunable.default))
  }
  cmd.action(async (opts: Record<string, string | boolean | undefined>) => {
    keepFilesPrivate()
    onExit(await runStart(configFromOptions(opts)))
  })
  return cmd
}

export function configFromOptions (opts: Record<string, string | boolean | undefined>): NodeConfig {
  const text = (name: string): string | null => {
    const v = opts[name]
    return typeof v === 'string' && v.length > 0 ? v : null
  }
  const tunables = {} as Tunables
  for (const [name, tunable] of Object.entries(TUNABLES) as Array<[TunableName, typeof TUNABLES[TunableName]]>) {
    tunables[name] = parseIntSetting(name, opts[name] ?? tunable.default, tunable.min, tunable.max)
  }
  const bootstrap = text('bootstrap')
  const capacity = text('capacity')
  return validateConfig({
    ...tunables,
    storage: text('storage') ?? DEFAULT_STORAGE,
    port: parseIntSetting('port', opts.port ?? DEFAULT_PORT, 0, 65535),
    host: text('host') ?? DEFAULT_HOST,
    publicUrl: text('publicUrl'),
    bootstrap: bootstrap === null ? null : parseBootstrap(bootstrap),
    join: text('join'),
    // An empty --secret (often an unset variable in an image) must not quietly found a bevy of its own.
    secret: typeof opts.secret === 'string' ? opts.secret : null,
    zone: text('zone') ?? DEFAULT_ZONE,
    capacity: capacity === null ? null : parseIntSetting('capacity', capacity, 0, Number.MAX_SAFE_INTEGER),
    route: (text('route') ?? 'redirect') as RouteMode,
    deviceRequests: (text('deviceRequests') ?? 'ask') as DeviceRequestPolicy,
    logLevel: text('logLevel') ?? 'info',
    logPretty: opts.logPretty === true || opts.logPretty === 'true' || opts.logPretty === '1'
  })
}

async function runStart (config: NodeConfig): Promise<number> {
  if (config.secret !== null && config.secret.trim().length < 8) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--secret must be at least 8 characters: every machine that knows it can join the bevy')
  }
  // Check the invite before touching storage, so a bad invite leaves no stray bevy behind.
  if (config.join !== null && await readBevyFile(config.storage) === null) parseInvite(config.join, Date.now())

  const log = createLogger({ level: config.logLevel, pretty: config.logPretty })
  let current = config
  // A fleet node whose bevy merges into another stops and starts again, on the same port, into
  // the surviving bevy; any other stop ends the process.
  for (let run = 0; ; run++) {
    const node = await startNode(current, log)
    const { bevy } = node
    const invite = bevy.foundingInvite?.text ?? null
    const out = [`node   ${bevy.idText}`, `url    ${node.url}`, `bevy   ${bevy.status().bevy}`]
    if (invite !== null && current.secret === null) {
      out.push('', 'Founded a new bevy. Other machines join it with:', `  bevy start --join ${invite}`, '', `invite ${invite}`)
    }
    process.stdout.write(out.join('\n') + '\n')
    const ready: ReadyMessage = { type: 'ready', id: bevy.idText, url: node.url, bevy: bevy.status().bevy, invite, storage: current.storage }
    if (run === 0) process.send?.(ready)

    let merging = false
    const left = new Promise<string>((resolve) => bevy.once('left', () => resolve('left the bevy')))
    // The ask may come while the node was starting, before this listener: check it too.
    const merge = new Promise<string>((resolve) => {
      const go = () => { merging = true; resolve('moving into the fleet\'s surviving bevy') }
      if (bevy.mergingInto !== null) go()
      else bevy.once('merge', go)
    })
    const close = async () => {
      if (merging) await bevy.prepareMerge()
      await node.close()
    }
    await untilShutdown(log, current.shutdownGraceMs, close, Promise.race([left, merge]), () => merging)
    if (!merging) return 0
    current = { ...current, join: null, port: node.port }
  }
}
