// The figures a chaos run prints at the end, and its one-line summary.
import type { ChaosResult } from './chaos.js'
import type { ClientCounts } from './clients.js'
import { FAULT_KINDS } from './schedule.js'

const pct = (served: number, requests: number) => requests === 0 ? 'NA' : (served / requests * 100).toFixed(2)

function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

function clientLine (name: string, c: ClientCounts): string {
  const reasons = [...c.reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} x${n}`).join(', ')
  return `  ${name.padEnd(9)} ${String(c.requests).padStart(6)} requests, ${String(c.served).padStart(6)} served, ` +
    `${String(c.failed).padStart(5)} failed -> availability ${pct(c.served, c.requests)} %${reasons === '' ? '' : ` (${reasons})`}`
}

export function figures (r: ChaosResult): string[] {
  const o = r.options
  const f = r.faults
  const injected = FAULT_KINDS.reduce((sum, k) => sum + f.injected[k], 0)
  const ms = (v: number) => Number.isFinite(v) ? `${Math.round(v)} ms` : 'NA'
  const lines = [
    '',
    `chaos figures (seed ${o.seed})`,
    `  nodes     ${o.nodes} (zones over 3), ${o.clouds} clouds x ${o.replicas} replicas, at most ${o.maxDown} node(s) out at a time`,
    `  duration  ${o.durationMs / 1000} s of faults; last outage healed at ${(f.healedAtMs / 1000).toFixed(1)} s`,
    `  faults    ${injected} injected of ${r.schedule.length} planned${f.skipped > 0 ? ` (${f.skipped} slipped past the window, skipped)` : ''}: ` +
      FAULT_KINDS.map((k) => `${k} ${f.injected[k]}`).join(', ') +
      `; start delay vs plan p50 ${ms(percentile(f.lateMs, 0.5))}, max ${ms(Math.max(0, ...f.lateMs))}`,
    `  restarts  ${f.restartMs.length}, spawn to ready p50 ${ms(percentile(f.restartMs, 0.5))}, max ${ms(f.restartMs.length === 0 ? NaN : Math.max(...f.restartMs))}; ` +
      `SIGTERM to exit p50 ${ms(percentile(f.termExitMs, 0.5))}, max ${ms(f.termExitMs.length === 0 ? NaN : Math.max(...f.termExitMs))}`,
    'clients (GET a random file of a random cloud from a random up node, redirects followed, bytes checked):',
    clientLine('faults', r.clients.faults),
    clientLine('recovery', r.clients.recovery),
    clientLine('total', r.clients.total),
    ...(r.clients.total.samples.length === 0 ? [] : ['  first failures:', ...r.clients.total.samples.map((x) => '    ' + x)]),
    `recovery  ${r.recovery.recovered ? `every cloud back at ${o.replicas} live, synced replicas on every node ${r.recovery.ms} ms after faults stopped` : `NOT within ${o.recoveryBoundMs} ms`}`,
    `clouds    ${r.verdicts.map((v) => `${v.key.slice(0, 8)}: ${v.copies.length} full copies${v.readableEverywhere ? ', byte-identical from every node' : ', NOT readable everywhere'}`).join('; ')}`,
    `          lost: ${r.lostClouds}`,
    ...hostedLines(r),
    `node logs ${r.logIssues.map((l) => `n${l.node} ${l.warn} warn/${l.error} error`).join(', ')}`
  ]
  if (r.anomalies.length > 0) {
    lines.push('anomalies in the nodes:')
    for (const a of r.anomalies) lines.push(`  n${a.node} ${a.what}`, ...a.log.split('\n').slice(-15).map((l) => '    | ' + l))
  }
  if (!r.ok) {
    lines.push(`FAILED (seed ${o.seed}; rerun with --seed ${o.seed} to replay the same schedule):`)
    for (const fl of r.failures) lines.push('  - ' + fl)
    for (const l of r.logIssues.filter((x) => x.last.length > 0)) {
      lines.push(`  last warnings/errors of n${l.node}:`, ...l.last.map((x) => '    | ' + x))
    }
  }
  return lines
}

function hostedLines (r: ChaosResult): string[] {
  const { writes, verdicts } = r.hosted
  if (verdicts.length === 0) return []
  const refused = [...writes.refused].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason} x${n}`).join(', ')
  return [
    `hosted    ${writes.attempts} writes, ${writes.acknowledged} acknowledged (201)${refused === '' ? '' : `, the rest refused: ${refused}`}`,
    `          ${verdicts.map((v) => `${v.key.slice(0, 8)}: ${v.acknowledged} acknowledged${v.servedEverywhere ? ', all served byte for byte by every node' : ', NOT all served everywhere'}`).join('; ')}`,
    ...(writes.samples.length === 0 ? [] : ['  first refused writes:', ...writes.samples.slice(0, 6).map((x) => '    ' + x)])
  ]
}

export function summaryLine (r: ChaosResult): string {
  const faults = FAULT_KINDS.reduce((sum, k) => sum + r.faults.injected[k], 0)
  return `chaos: nodes=${r.options.nodes} duration_s=${r.options.durationMs / 1000} faults=${faults} ` +
    `requests=${r.clients.total.requests} availability=${pct(r.clients.total.served, r.clients.total.requests)} ` +
    `recovered_ms=${r.recovery.recovered ? r.recovery.ms : 'NA'} lost_clouds=${r.lostClouds} ` +
    `hosted_acked=${r.hosted.writes.acknowledged} hosted_unserved_clouds=${r.hosted.verdicts.filter((v) => !v.servedEverywhere).length}`
}
