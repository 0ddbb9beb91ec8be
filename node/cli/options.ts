// Helpers so every CLI option also reads from the environment as BEVY_<OPTION>.
import { Option, type Command } from 'commander'
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

export { parseDuration } from '../../protocol/index.js'
