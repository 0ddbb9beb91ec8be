// The `bevy` command line. Errors print as one line on stderr; exit 0 ok, 1 runtime, 2 usage.
import { Command, CommanderError } from 'commander'
import { isBevyError } from '../../protocol/index.js'
import { keepTickObjectShape } from '../tick-shape.js'
import { PACKAGE_VERSION } from '../version.js'

export const EXIT_OK = 0
export const EXIT_RUNTIME = 1
export const EXIT_USAGE = 2

type SetCode = (code: number) => void

/**
 * Every command, in help order, loaded on demand: a run needs only its own command's modules
 * (`bevy status` does not load the node runtime, `bevy start` not the simulator), which saves
 * most of a short command's start-up and some CPU on every node boot.
 */
const COMMANDS: Record<string, (setCode: SetCode) => Promise<Command>> = {
  start: async (setCode) => (await import('./start.js')).startCommand(setCode),
  dht: async (setCode) => (await import('./dht.js')).dhtCommand(setCode),
  demo: async (setCode) => (await import('./demo.js')).demoCommand(setCode),
  invite: async () => (await import('./admin-commands.js')).inviteCommand(),
  status: async () => (await import('./admin-commands.js')).statusCommand(),
  cloud: async () => (await import('./cloud-commands.js')).cloudCommand(),
  push: async () => (await import('./push.js')).pushCommand(),
  device: async () => (await import('./device.js')).deviceCommand(),
  drain: async () => (await import('./cloud-commands.js')).drainCommand(true),
  undrain: async () => (await import('./cloud-commands.js')).drainCommand(false),
  remove: async () => (await import('./cloud-commands.js')).removeCommand(),
  leave: async () => (await import('./leave.js')).leaveCommand(),
  sim: async (setCode) => (await import('./sim.js')).simCommand(setCode)
}

/** Commander's usage errors, as one line that points at --help. */
function oneLine (message: string, write: (s: string) => void): void {
  write(`bevy: ${message.replace(/^error: /, '').trim()} (see --help)\n`)
}

export async function main (argv: string[]): Promise<number> {
  keepTickObjectShape() // first, before any GC can drop the shape (see tick-shape.ts)
  let code = EXIT_OK
  const setCode = (c: number) => { code = c }
  const program = new Command('bevy')
    .description('Cloud Bevy: a self-organising home for personal clouds')
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ outputError: oneLine })
  // Only the named command; all of them when none is named (help, version, a typo).
  const first = argv[0]
  const names = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS)
  const commands = await Promise.all(names.map(async (name) => await (COMMANDS[name] as (setCode: SetCode) => Promise<Command>)(setCode)))
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
