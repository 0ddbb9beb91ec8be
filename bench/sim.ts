// Simulator benchmark: `npm run bench:sim`. The churn-storm scenario (10% of the nodes restart
// within a minute) at 1000 nodes and 100k clouds, one simulated hour, in one process. Reports
// wall time, the speedup (simulated time / wall time) and the peak RSS. Sizes can be lowered
// for a quick try: BENCH_NODES, BENCH_CLOUDS, BENCH_SIM_MINUTES, BENCH_SEED.
// Progress goes to stderr; stdout gets one line:
//   sim: nodes=1000 clouds=100000 sim_hours=1 wall_s=<..> speedup=<..> rss_mb=<..>
import { performance } from 'node:perf_hooks'
import { loadScenario } from '../sim/scenario.js'
import { simulate } from '../sim/simulator.js'
import { envPositiveInt, fmt, progress, say } from './lib/util.js'

const NODES = envPositiveInt('BENCH_NODES', 1000)
const CLOUDS = envPositiveInt('BENCH_CLOUDS', 100_000)
const SIM_MINUTES = envPositiveInt('BENCH_SIM_MINUTES', 60)
const SEED = envPositiveInt('BENCH_SEED', 20261121)
const TARGETS = { wallS: 60, rssMb: 2000 }

const scenario = loadScenario('churn-storm')
scenario.nodes = NODES
scenario.clouds = CLOUDS
scenario.durationMs = SIM_MINUTES * 60_000
progress(`churn-storm: ${NODES} nodes, ${CLOUDS} clouds, ${SIM_MINUTES} simulated minutes, seed ${SEED}`)
const started = performance.now()
const result = await simulate({
  seed: SEED,
  scenario,
  onProgress: (simMs, endMs) => progress(`simulated ${Math.round(simMs / 60_000)} of ${Math.round(endMs / 60_000)} min after ${fmt((performance.now() - started) / 1000)} s`)
})
const wallS = (performance.now() - started) / 1000
// Peak resident set of this process over the whole run (ru_maxrss is in KiB).
const rssMb = process.resourceUsage().maxRSS / 1024
const simHours = result.params.endMs / 3_600_000

say()
for (const v of result.invariants) say(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${v.detail}`)
say(`  availability ${(result.summary.availability * 100).toFixed(2)}%, ${result.summary.copies} copies, ${result.summary.opsApplied} ops applied, ${result.schedule.length} fault events`)
say(`  targets: wall_s <= ${TARGETS.wallS} (${wallS <= TARGETS.wallS ? 'met' : 'MISSED'}), rss_mb <= ${TARGETS.rssMb} (${rssMb <= TARGETS.rssMb ? 'met' : 'MISSED'})`)
process.stdout.write(`sim: nodes=${NODES} clouds=${CLOUDS} sim_hours=${fmt(simHours, 2)} wall_s=${fmt(wallS)} speedup=${fmt(result.params.endMs / 1000 / wallS, 0)} rss_mb=${fmt(rssMb, 0)}\n`)
if (!result.ok) process.exitCode = 1
