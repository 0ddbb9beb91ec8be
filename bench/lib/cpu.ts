// CPU accounting from /proc, and pinning processes to cores with taskset(1).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { delimiter, join } from 'node:path'
import { performance } from 'node:perf_hooks'

const CLK_TCK = (() => {
  try { return Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100 } catch { return 100 }
})()

/** utime+stime of a process in seconds (0 if it is gone). */
export function cpuSeconds (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is field 3 (state)
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch { return 0 }
}

/** Direct children of `pid` (nginx workers under the master). */
export function childPids (pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(name))
    } catch {}
  }
  return out
}

export interface CpuMark { seconds: number, at: number }
export const cpuMark = (pids: number[]): CpuMark => ({ seconds: pids.reduce((s, p) => s + cpuSeconds(p), 0), at: performance.now() })
/** CPU used between two marks, in % of one core. */
export const cpuPct = (a: CpuMark, b: CpuMark) => (b.seconds - a.seconds) / ((b.at - a.at) / 1000) * 100

/** Busy CPU time of the whole machine (all cores) from /proc/stat, in seconds. */
export function machineMark (): CpuMark {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0) // idle + iowait
  return { seconds: (fields.reduce((a, b) => a + b, 0) - idle) / CLK_TCK, at: performance.now() }
}

/**
 * Steal time of the whole machine from /proc/stat, in seconds: time a virtual machine's CPUs were
 * ready to run but the hypervisor ran something else. (machineMark counts it as busy.)
 */
export function stealMark (): CpuMark {
  const steal = Number(readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/)[8] ?? 0)
  return { seconds: steal / CLK_TCK, at: performance.now() }
}

// ---------- pinning ----------

/** Which cores the load generator and the servers run on, and the taskset binary that pins them. */
export interface CorePlan { taskset: string, load: string, servers: string }

function findTaskset (): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')
  for (const dir of [...dirs, '/usr/bin', '/bin']) {
    const path = join(dir, 'taskset')
    if (existsSync(path)) return path
  }
  return null
}

/**
 * The load generator on CPU 0, the servers on the rest. `plan` is null, with the reason, when
 * taskset is missing or the machine has one core.
 */
export function planCores (): { plan: CorePlan | null, why: string } {
  const taskset = findTaskset()
  const n = cpus().length
  if (taskset === null) return { plan: null, why: 'taskset not found (util-linux); nothing pinned, load generator and servers share all cores' }
  if (n < 2) return { plan: null, why: `only ${n} core; nothing pinned, load generator and servers share it` }
  const servers = n === 2 ? '1' : `1-${n - 1}`
  return { plan: { taskset, load: '0', servers }, why: `load generator pinned to CPU 0, servers to CPU ${servers} (taskset)` }
}

/** Pins a running process and all its threads to `cores`. */
export function pinProcess (taskset: string, pid: number, cores: string): void {
  const r = spawnSync(taskset, ['-a', '-p', '-c', cores, String(pid)])
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cores} ${pid} failed: ${r.stderr?.toString().trim()}`)
}

/** fork() options that start the child under `taskset -c cores` (same pid: taskset execs node). */
export function pinnedForkOptions (taskset: string, cores: string): { execPath: string, execArgv: string[] } {
  return { execPath: taskset, execArgv: ['-c', cores, process.execPath, ...process.execArgv] }
}
