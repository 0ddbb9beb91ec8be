// What a simulation run prints: a text summary for people, and JSON for tools. The JSON holds
// nothing that depends on the machine (no wall time), so the same seed gives the same bytes.
import { formatDuration } from '../protocol/index.js'
import type { SimResult } from './simulator.js'

export interface RunArgs {
  seed: number
  scenario: string
  /** Overrides given on the command line, to repeat in the replay command. */
  overrides: { nodes?: number, clouds?: number, replicas?: number, duration?: string }
}

export function replayCommand (args: RunArgs): string {
  const parts = ['bevy sim', `--seed ${args.seed}`, `--scenario ${args.scenario}`]
  const o = args.overrides
  if (o.nodes !== undefined) parts.push(`--nodes ${o.nodes}`)
  if (o.clouds !== undefined) parts.push(`--clouds ${o.clouds}`)
  if (o.replicas !== undefined) parts.push(`--replicas ${o.replicas}`)
  if (o.duration !== undefined) parts.push(`--duration ${o.duration}`)
  return parts.join(' ')
}

export function toJson (result: SimResult): string {
  return JSON.stringify(result, null, 2) + '\n'
}

export function scheduleText (result: SimResult): string {
  const lines = result.schedule.map((s) => `  +${formatDuration(s.atMs).padEnd(9)} ${s.what}`)
  return lines.length === 0 ? '  (no faults)\n' : lines.join('\n') + '\n'
}

export function headerText (result: Pick<SimResult, 'seed' | 'scenario' | 'params'>): string {
  const p = result.params
  const grow = p.totalNodes === p.nodes ? '' : ` (growing to ${p.totalNodes})`
  return `bevy sim: seed=${result.seed} scenario=${result.scenario} nodes=${p.nodes}${grow} zones=${p.zones} clouds=${p.clouds} replicas=${p.replicas} duration=${formatDuration(p.durationMs)}\n`
}

export function summaryText (result: SimResult, args: RunArgs, wallMs: number): string {
  const s = result.summary
  const out: string[] = ['invariants:']
  for (const v of result.invariants) {
    out.push(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${v.detail}`)
    if (!v.ok && v.firstViolation !== null) out.push(`       first at +${formatDuration(v.firstViolation.atMs)}: ${v.firstViolation.what}`)
  }
  out.push('summary:')
  out.push(`  availability ${(s.availability * 100).toFixed(2)}% (${s.served} of ${s.requests} client requests served)`)
  out.push(`  copies ${s.copies} (${formatBytes(s.bytesMoved)} moved), necessary ${s.necessaryCopies}`)
  out.push(`  recovered ${s.recoveredAfterMs === null ? 'never' : formatDuration(s.recoveredAfterMs)} after faults stopped at +${formatDuration(s.faultsEndMs)}`)
  if (s.spikedShareOfRequests !== null) out.push(`  hot nodes got ${(s.spikedShareOfRequests * 100).toFixed(1)}% of requests while they were hot`)
  out.push(`  ${s.opsApplied} ops applied; ${formatDuration(result.params.endMs)} simulated in ${(wallMs / 1000).toFixed(1)} s (${(result.params.endMs / Math.max(1, wallMs)).toFixed(0)}x)`)
  if (!result.ok) {
    const failed = result.invariants.filter((v) => !v.ok).map((v) => v.name).join(', ')
    out.push(`FAILED: ${failed} (seed ${result.seed})`)
    out.push(`replay: ${replayCommand(args)}`)
  }
  return out.join('\n') + '\n'
}

function formatBytes (n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}
