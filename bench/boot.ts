// Boot benchmark: `npm run bench:boot`. How much CPU a node spends to start, which is what a fleet
// booting at once on a small machine waits for (bench:fleet). Each round starts, interleaved:
//   bundled    bin/bevy.js: the bundle (dist/bevy.cjs) run with V8's code cache, as operators run it
//   unbundled  the same CLI straight from tsc's output (dist/node/cli/main.js), one module per file
// first one node alone (spawn until ready, wall and CPU from /proc), then BENCH_BOOT_NODES (10)
// nodes with one secret at once (until every one is ready; CPU summed). Ratios are bundled /
// unbundled (below 1: the bundle is cheaper). Loopback DHT only.
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { BIN_PATH, spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { packagePath } from '../node/package-root.js'
import { cpuSeconds } from './lib/cpu.js'
import { cleanUpOnSignal, envPositiveInt, fmt, median, progress, ratio3, say } from './lib/util.js'

const ROUNDS = envPositiveInt('BENCH_BOOT_ROUNDS', 5)
const NODES = envPositiveInt('BENCH_BOOT_NODES', 10)
const VARIANTS = { bundled: BIN_PATH, unbundled: packagePath('dist', 'bench', 'lib', 'unbundled-bevy.js') }
type Variant = keyof typeof VARIANTS

interface Boot { wallMs: number, cpuMs: number }

let run = 0
async function boot (dht: PrivateDht, dir: string, variant: Variant, nodes: number, live: NodeProcess[]): Promise<Boot> {
  const secret = `bench-boot-${process.pid}-${++run}`
  const started = performance.now()
  const procs = Array.from({ length: nodes }, (_, i) => spawnNode(
    ['--storage', join(dir, `${run}-${i}`), '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap, '--log-level', 'warn', '--secret', secret],
    { bin: VARIANTS[variant] }
  ))
  live.push(...procs)
  await Promise.all(procs.map((p) => p.ready))
  const wallMs = performance.now() - started
  const cpuMs = procs.reduce((sum, p) => sum + cpuSeconds(p.child.pid ?? 0) * 1000, 0)
  await Promise.all(live.splice(0).map((p) => p.stop('SIGTERM')))
  return { wallMs, cpuMs }
}

async function main (): Promise<void> {
  progress(`boot benchmark: ${ROUNDS} rounds, 1 and ${NODES} nodes, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const dir = await mkdtemp(join(tmpdir(), 'bevy-bench-boot-'))
  const dht = await startPrivateDht({ port: 0 })
  const live: NodeProcess[] = []
  const cleanup = async () => {
    await Promise.all(live.splice(0).map((p) => p.stop('SIGTERM').catch(() => {})))
    await dht.close()
    await rm(dir, { recursive: true, force: true })
  }
  const release = cleanUpOnSignal(cleanup)
  const results: Record<string, Boot[]> = {}
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const nodes of [1, NODES]) {
        for (const variant of Object.keys(VARIANTS) as Variant[]) {
          const result = await boot(dht, dir, variant, nodes, live)
          ;(results[`${variant}/${nodes}`] ??= []).push(result)
          progress(`round ${round}: ${variant}, ${nodes} node(s): ready after ${fmt(result.wallMs, 0)} ms, ${fmt(result.cpuMs, 0)} ms of CPU`)
        }
      }
    }
  } finally {
    release()
    await cleanup()
  }
  const med = (key: string, field: keyof Boot) => median((results[key] ?? []).map((r) => r[field]))
  for (const nodes of [1, NODES]) {
    for (const variant of Object.keys(VARIANTS)) {
      say(`${variant.padEnd(9)} ${String(nodes).padStart(2)} node(s): median ready ${fmt(med(`${variant}/${nodes}`, 'wallMs'), 0)} ms, CPU ${fmt(med(`${variant}/${nodes}`, 'cpuMs'), 0)} ms`)
    }
  }
  process.stdout.write(`boot: cpu_ms=${fmt(med('bundled/1', 'cpuMs'), 0)} cpu_vs_unbundled=${ratio3(med('bundled/1', 'cpuMs'), med('unbundled/1', 'cpuMs'))} ` +
    `fleet${NODES}_ready_ms=${fmt(med(`bundled/${NODES}`, 'wallMs'), 0)} fleet_ready_vs_unbundled=${ratio3(med(`bundled/${NODES}`, 'wallMs'), med(`unbundled/${NODES}`, 'wallMs'))} ` +
    `fleet_cpu_vs_unbundled=${ratio3(med(`bundled/${NODES}`, 'cpuMs'), med(`unbundled/${NODES}`, 'cpuMs'))}\n`)
}

main().catch((err) => {
  process.stderr.write(`bench:boot failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
