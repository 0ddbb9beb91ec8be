// The HTML report of a simulation: one self-contained page (inline CSS and SVG, no scripts, no
// network), with charts over simulated time, the fault schedule and the invariants.
import { formatDuration } from '../protocol/index.js'
import { replayCommand, type RunArgs } from './report.js'
import type { SimResult } from './simulator.js'

const WIDTH = 760
const HEIGHT = 180
const PAD = { left: 56, right: 12, top: 12, bottom: 28 }

export function renderHtmlReport (result: SimResult, args: RunArgs): string {
  const s = result.series
  const faultTimes = result.schedule.map((f) => f.atMs)
  const charts = [
    chart('Live nodes', s.atMs, s.liveNodes, faultTimes, result.params.endMs, (v) => String(Math.round(v))),
    chart('Under-replicated clouds', s.atMs, s.underReplicated, faultTimes, result.params.endMs, (v) => String(Math.round(v))),
    chart('Copies made (cumulative)', s.atMs, s.copies, faultTimes, result.params.endMs, (v) => String(Math.round(v))),
    chart('Availability (share of requests served)', s.atMs, s.availability, faultTimes, result.params.endMs, (v) => `${(v * 100).toFixed(1)}%`, 1)
  ].join('\n')
  const p = result.params
  const sum = result.summary
  const invariants = result.invariants.map((v) =>
    `<tr class="${v.ok ? 'ok' : 'fail'}"><td>${v.ok ? 'ok' : 'FAIL'}</td><td>${esc(v.name)}</td><td>${esc(v.detail)}${v.firstViolation === null || v.ok ? '' : `<br><small>first at +${formatDuration(v.firstViolation.atMs)}: ${esc(v.firstViolation.what)}</small>`}</td></tr>`).join('\n')
  const schedule = result.schedule.length === 0
    ? '<p>No faults.</p>'
    : `<table><tr><th>at</th><th>fault</th></tr>${result.schedule.map((f) => `<tr><td>+${formatDuration(f.atMs)}</td><td>${esc(f.what)}</td></tr>`).join('')}</table>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>bevy sim — ${esc(result.scenario)}, seed ${result.seed}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: ${WIDTH + 40}px; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.verdict { font-weight: 600; padding: 0.4em 0.7em; border-radius: 4px; display: inline-block; }
.verdict.ok { background: #e3f6e5; color: #17632a; } .verdict.fail { background: #fde5e5; color: #9b1c1c; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
tr.fail td { color: #9b1c1c; } code { background: #f4f4f4; padding: 1px 4px; }
figure { margin: 1.2em 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font-size: 11px; fill: #555; } .line { fill: none; stroke: #2563eb; stroke-width: 1.6; } .fault { stroke: #f59e0b; stroke-dasharray: 3 3; }
.grid { stroke: #eee; } .axis { stroke: #999; }
</style></head><body>
<h1>bevy sim: ${esc(result.scenario)}</h1>
<p>seed <b>${result.seed}</b> · ${p.nodes} nodes${p.totalNodes === p.nodes ? '' : ` growing to ${p.totalNodes}`} in ${p.zones} zones · ${p.clouds} clouds × ${p.replicas} replicas · ${formatDuration(p.endMs)} simulated</p>
<p class="verdict ${result.ok ? 'ok' : 'fail'}">${result.ok ? 'All invariants held' : 'Invariants failed'}</p>
<p>Replay: <code>${esc(replayCommand(args))}</code></p>
<h2>Invariants</h2>
<table>${invariants}</table>
<h2>Summary</h2>
<table>
<tr><td>availability</td><td>${(sum.availability * 100).toFixed(2)}% (${sum.served} of ${sum.requests} requests)</td></tr>
<tr><td>copies made</td><td>${sum.copies} (${sum.bytesMoved} bytes), ${sum.necessaryCopies} necessary</td></tr>
<tr><td>recovery</td><td>${sum.recoveredAfterMs === null ? 'not recovered' : formatDuration(sum.recoveredAfterMs)} after faults stopped at +${formatDuration(sum.faultsEndMs)}</td></tr>
<tr><td>ops applied</td><td>${sum.opsApplied}</td></tr>
</table>
<h2>Over time</h2>
<p><small>Dashed lines mark faults.</small></p>
${charts}
<h2>Fault schedule</h2>
${schedule}
</body></html>
`
}

function chart (title: string, xs: number[], ys: number[], marks: number[], endMs: number, label: (v: number) => string, fixedMax?: number): string {
  const w = WIDTH - PAD.left - PAD.right
  const h = HEIGHT - PAD.top - PAD.bottom
  const maxY = fixedMax ?? Math.max(1, ...ys)
  const minY = fixedMax === undefined ? 0 : Math.min(0.9, ...ys)
  const x = (t: number) => PAD.left + (endMs === 0 ? 0 : t / endMs) * w
  const y = (v: number) => PAD.top + h - ((v - minY) / (maxY - minY || 1)) * h
  const points = xs.map((t, i) => `${x(t).toFixed(1)},${y(ys[i] as number).toFixed(1)}`).join(' ')
  const ticksY = [minY, (minY + maxY) / 2, maxY]
  const ticksX = [0, endMs / 4, endMs / 2, (3 * endMs) / 4, endMs]
  return `<figure><figcaption>${esc(title)}</figcaption>
<svg width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${esc(title)}">
${ticksY.map((v) => `<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}"/><text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${esc(label(v))}</text>`).join('')}
${ticksX.map((t) => `<text x="${x(t)}" y="${HEIGHT - 8}" text-anchor="middle">${formatDuration(Math.round(t / 1000) * 1000)}</text>`).join('')}
${[...new Set(marks)].map((t) => `<line class="fault" x1="${x(t)}" x2="${x(t)}" y1="${PAD.top}" y2="${PAD.top + h}"/>`).join('')}
<line class="axis" x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + h}"/>
<polyline class="line" points="${points}"/>
</svg></figure>`
}

function esc (s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch] as string)
}
