// The `bevy` command line. Errors print as one line on stderr; exit 0 ok, 1 runtime, 2 usage.
import { Command, CommanderError } from 'commander'
import { isBevyError } from '../../protocol/index.js'
import { inviteCommand, statusCommand } from './admin-commands.js'
import { cloudCommand, drainCommand, removeCommand } from './cloud-commands.js'
import { demoCommand } from './demo.js'
import { deviceCommand } from './device.js'
import { dhtCommand } from './dht.js'
import { leaveCommand } from './leave.js'
import { pushCommand } from './push.js'
import { simCommand } from './sim.js'
import { startCommand } from './start.js'
import { PACKAGE_VERSION } from '../version.js'

export const EXIT_OK = 0
export const EXIT_RUNTIME = 1
export const EXIT_USAGE = 2

/** Commander's usage errors, as one line that points at --help. */
function oneLine (message: string, write: (s: string) => void): void {
  write(`bevy: ${message.replace(/^error: /, '').trim()} (see --help)\n`)
}

export async function main (argv: string[]): Promise<number> {
  let code = EXIT_OK
  const setCode = (c: number) => { code = c }
  const program = new Command('bevy')
    .description('Cloud Bevy: a self-organising home for personal clouds')
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ outputError: oneLine })
  const commands = [startCommand(setCode), dhtCommand(setCode), demoCommand(setCode), inviteCommand(), statusCommand(),
    cloudCommand(), pushCommand(), deviceCommand(), drainCommand(true), drainCommand(false), removeCommand(), leaveCommand(), simCommand(setCode)]
  const configure = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ outputError: oneLine })
    for (const sub of cmd.commands) configure(sub)
  }
  for (const cmd of commands) {
    configure(cmd)
    program.addCommand(cmd)
  }
  try {
    await program.parseAsync(argv, { from: 'user' })
    if (argv.length === 0) {
      program.outputHelp()
      return EXIT_USAGE
    }
    return code
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help text).
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    }
    if (isBevyError(err)) {
      process.stderr.write(`bevy: ${err.message}\n`)
      return err.isUsage ? EXIT_USAGE : EXIT_RUNTIME
    }
    process.stderr.write(`bevy: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT_RUNTIME
  }
}
