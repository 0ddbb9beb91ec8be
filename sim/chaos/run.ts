// `npm run chaos -- --nodes 5 --duration 60s --seed 42`: the chaos run from the command line.
// Progress and figures go to stderr, the one summary line to stdout; exit 1 on any failure.
import { randomInt } from 'node:crypto'
import { Command, InvalidArgumentError, Option } from 'commander'
import { cleanUpOnSignal } from '../../bench/lib/util.js'
import { runChaos } from './chaos.js'
import { DEFAULT_OPTIONS, parseDuration } from './options.js'
import { figures, summaryLine } from './report.js'

const int = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer')
  return n
}
const duration = (v: string) => {
  try { return parseDuration(v) } catch (err) { throw new InvalidArgumentError((err as Error).message) }
}
const secs = (ms: number) => `${ms / 1000}s`

const program = new Command('chaos')
  .description('Runs real bevy node processes on a private loopback DHT, injects seeded faults ' +
    '(SIGKILL+restart, SIGSTOP/SIGCONT, SIGTERM+restart) while clients read and write, then checks that every ' +
    'cloud is back on its replicas and reads back byte-identical from every node, and that every hosted-cloud write that got 201 is served by every node.')
  .option('--nodes <n>', 'node processes', int, DEFAULT_OPTIONS.nodes)
  .addOption(new Option('--duration <d>', 'how long faults are injected (60s, 2m, 1500ms)').argParser(duration).default(DEFAULT_OPTIONS.durationMs, secs(DEFAULT_OPTIONS.durationMs)))
  .option('--seed <n>', 'seed of the fault schedule, cloud contents and client choices (default: random, printed)', int)
  .option('--clouds <n>', 'clouds to create and register', int, DEFAULT_OPTIONS.clouds)
  .option('--hosted-clouds <n>', 'hosted (multi-writer) clouds written to throughout; every acknowledged write must survive', int, DEFAULT_OPTIONS.hostedClouds)
  .option('--replicas <n>', 'replicas per cloud', int, DEFAULT_OPTIONS.replicas)
  .option('--max-down <n>', 'nodes out at the same time, at most (below --replicas)', int, DEFAULT_OPTIONS.maxDown)
  .addOption(new Option('--recovery-bound <d>', 'how long after faults stop every cloud may take to recover').argParser(duration).default(DEFAULT_OPTIONS.recoveryBoundMs, secs(DEFAULT_OPTIONS.recoveryBoundMs)))
  .option('--clients <n>', 'concurrent simulated clients', int, DEFAULT_OPTIONS.clients)
  .option('--node-log-level <level>', 'log level of the node processes', DEFAULT_OPTIONS.nodeLogLevel)
  .option('--logs <dir>', 'write every node\'s whole log to <dir>/n<i>.log at the end')
  .option('--keep', 'keep the temp dir with every node\'s storage', false)
  .addHelpText('after', `
The schedule is reproducible from --seed; the wall-clock interleaving with the nodes is not.
Exit 0: no cloud lost and every cloud recovered within the bound; 1 otherwise.
`)

interface CliOptions {
  nodes: number, duration: number, seed?: number, clouds: number, hostedClouds: number, replicas: number, maxDown: number,
  recoveryBound: number, clients: number, nodeLogLevel: string, keep: boolean, logs?: string
}

async function main (): Promise<number> {
  program.parse()
  const o = program.opts<CliOptions>()
  const seed = o.seed ?? randomInt(0, 0x7fff_ffff)
  const abort = new AbortController()
  let running: Promise<unknown> = Promise.resolve()
  // On SIGINT/SIGTERM: abort, and let runChaos's own cleanup stop the nodes, the DHT and the temp dir.
  const stopHandlingSignals = cleanUpOnSignal(async () => {
    abort.abort()
    await running.catch(() => {})
  })
  try {
    const run = runChaos({
      nodes: o.nodes, durationMs: o.duration, seed, clouds: o.clouds, hostedClouds: o.hostedClouds, replicas: o.replicas, maxDown: o.maxDown,
      recoveryBoundMs: o.recoveryBound, clients: o.clients, nodeLogLevel: o.nodeLogLevel, keepDir: o.keep, signal: abort.signal,
      ...(o.logs === undefined ? {} : { logDir: o.logs })
    })
    running = run
    const result = await run
    for (const line of figures(result)) process.stderr.write(line + '\n')
    process.stdout.write(summaryLine(result) + '\n')
    return result.ok ? 0 : 1
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write(`chaos interrupted (seed ${seed}); nodes, DHT and temp dir cleaned up\n`)
      return 130
    }
    process.stderr.write(`chaos failed (seed ${seed}): ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    return 1
  } finally {
    stopHandlingSignals()
  }
}

main().then((code) => { process.exitCode = code }, (err) => {
  process.stderr.write(`chaos: ${String(err)}\n`)
  process.exitCode = 1
})
