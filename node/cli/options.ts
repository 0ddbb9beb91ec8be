// Helpers so every CLI option also reads from the environment as BEVY_<OPTION>.
import { Option, type Command } from 'commander'
import { BevyError, ErrorCode } from '../../protocol/index.js'
import { DEFAULT_STORAGE, envName } from '../config.js'

/** Adds `--name <value>` (or a boolean flag) that falls back to BEVY_NAME. */
export function option (cmd: Command, flags: string, description: string, defaultValue?: string | boolean): Command {
  const long = /--([a-z0-9-]+)/.exec(flags)?.[1] ?? ''
  const camel = long.replace(/-([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase())
  const opt = new Option(flags, description).env(envName(camel))
  if (defaultValue !== undefined) opt.default(defaultValue)
  return cmd.addOption(opt)
}

/** The options every admin command shares: how to reach a node. */
export function adminOptions (cmd: Command): Command {
  option(cmd, '--storage <dir>', 'storage of the local node to talk to', DEFAULT_STORAGE)
  option(cmd, '--url <url>', 'talk to the node at this URL instead')
  option(cmd, '--token <token>', 'admin token for --url (default: read from --storage)')
  return cmd
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses "500ms", "30s", "15m", "24h", "7d" or a bare number of milliseconds. */
export function parseDuration (text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  const value = match === null ? NaN : Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? NaN)
  if (!Number.isFinite(value) || value <= 0) throw new BevyError(ErrorCode.BAD_CONFIG, `${what} takes a duration like 30s, 15m or 24h, got "${text}"`)
  return Math.round(value)
}
