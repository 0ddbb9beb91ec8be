// `bevy sim`: the deterministic simulator from the command line (see sim/).
import { randomInt } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import cliProgress from 'cli-progress'
import { Command } from 'commander'
import { BevyError, ErrorCode, parseDuration } from '../../protocol/index.js'
import { builtinScenarioNames, loadScenario } from '../../sim/scenario.js'
import { simulate } from '../../sim/simulator.js'
import { headerText, replayCommand, scheduleText, summaryText, toJson, type RunArgs } from '../../sim/report.js'
import { renderHtmlReport } from '../../sim/report-html.js'
import { parseIntSetting } from '../config.js'

interface SimFlags {
  seed?: string
  nodes?: string
  clouds?: string
  replicas?: string
  duration?: string
  scenario: string
  report?: string
  json?: boolean
  listScenarios?: boolean
}

export function simCommand (onExit: (code: number) => void): Command {
  const cmd = new Command('sim')
    .description('simulate a bevy under faults, deterministically from a seed, and check its invariants')
    .option('--seed <n>', 'the seed that draws everything (default: a random one, printed)')
    .option('--scenario <name|file>', 'a built-in scenario (see --list-scenarios) or a scenario JSON file', 'steady')
    .option('--nodes <n>', 'nodes at the start (default: the scenario\'s)')
    .option('--clouds <n>', 'registered clouds (default: the scenario\'s)')
    .option('--replicas <n>', 'replicas per cloud (default: the scenario\'s)')
    .option('--duration <time>', 'simulated time, like 30m or 1h (default: the scenario\'s)')
    .option('--report <file.html>', 'also write a self-contained HTML report with charts')
    .option('--json', 'print the result as JSON on stdout instead of text')
    .option('--list-scenarios', 'list the built-in scenarios and exit')
  cmd.action(async (flags: SimFlags) => {
    if (flags.listScenarios === true) {
      process.stdout.write(builtinScenarioNames().join('\n') + '\n')
      return
    }
    onExit(await runSim(flags))
  })
  return cmd
}

async function runSim (flags: SimFlags): Promise<number> {
  const seed = flags.seed === undefined ? randomInt(0, 2 ** 31) : parseIntSetting('seed', flags.seed, 0, 2 ** 32 - 1)
  const scenario = loadScenario(flags.scenario)
  const overrides: RunArgs['overrides'] = {}
  if (flags.nodes !== undefined) scenario.nodes = overrides.nodes = parseIntSetting('nodes', flags.nodes, 1, 100_000)
  if (flags.clouds !== undefined) scenario.clouds = overrides.clouds = parseIntSetting('clouds', flags.clouds, 0, 10_000_000)
  if (flags.replicas !== undefined) scenario.replicas = overrides.replicas = parseIntSetting('replicas', flags.replicas, 1, 16)
  if (flags.duration !== undefined) {
    scenario.durationMs = parseDuration(flags.duration, '--duration')
    overrides.duration = flags.duration
  }
  if (flags.report !== undefined && !flags.report.endsWith('.html')) throw new BevyError(ErrorCode.BAD_CONFIG, '--report takes a file name ending in .html')
  const args: RunArgs = { seed, scenario: flags.scenario, overrides }
  const json = flags.json === true
  const err = process.stderr
  if (!json) process.stdout.write(headerText({ seed, scenario: scenario.name, params: { nodes: scenario.nodes, totalNodes: scenario.nodes, zones: scenario.zones, clouds: scenario.clouds, replicas: scenario.replicas, durationMs: scenario.durationMs, endMs: scenario.durationMs } }))

  const bar = err.isTTY === true ? new cliProgress.SingleBar({ format: 'simulating {bar} {percentage}% of simulated time', stream: err, hideCursor: true }, cliProgress.Presets.shades_classic) : null
  bar?.start(100, 0)
  const started = performance.now()
  const result = await simulate({ seed, scenario, onProgress: (simMs, endMs) => bar?.update(Math.floor(simMs * 100 / endMs)) })
  const wallMs = performance.now() - started
  bar?.update(100)
  bar?.stop()

  if (json) {
    process.stdout.write(toJson(result))
  } else {
    process.stdout.write('schedule:\n' + scheduleText(result))
    process.stdout.write(summaryText(result, args, wallMs))
  }
  if (flags.report !== undefined) {
    await writeFile(flags.report, renderHtmlReport(result, args))
    err.write(`report written to ${flags.report}\n`)
  }
  if (!result.ok && json) err.write(`replay: ${replayCommand(args)}\n`)
  return result.ok ? 0 : 1
}
