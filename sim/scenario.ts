// Scenario files: what a simulation runs. JSON, so users copy a built-in one and edit it.
// Durations are strings like "90s" or "5m". Which nodes a fault hits is not named: the seed
// draws them, so one scenario file covers every cluster size.
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { BevyError, ErrorCode, parseDuration } from '../protocol/index.js'
import { defaultTunables, TUNABLES, type Tunables } from '../node/config.js'
import { packagePath } from '../node/package-root.js'

export type FaultSpec =
  | { kind: 'crash', at: number, nodes: number, restartAfter: number | null }
  | { kind: 'zone-down', at: number, zones: number, for: number }
  | { kind: 'partition', at: number, for: number }
  | { kind: 'flap', at: number, nodes: number, period: number, for: number }
  | { kind: 'churn', at: number, fraction: number, within: number, downFor: number }
  | { kind: 'skew', at: number, nodes: number, offset: number }
  | { kind: 'pause', at: number, nodes: number, for: number }
  | { kind: 'load-spike', at: number, nodes: number, loadPermille: number, for: number }
  | { kind: 'rolling-restart', at: number, every: number, downFor: number }
  | { kind: 'grow', at: number, factor: number, within: number }
  | { kind: 'drain', at: number, nodes: number }

export interface Scenario {
  name: string
  description: string
  nodes: number
  zones: number
  clouds: number
  replicas: number
  durationMs: number
  /** After the last fault ends, every cloud must be back at full strength within this. */
  recoveryBoundMs: number
  /** Node tunables (heartbeatIntervalMs, suspectAfterMs, downAfterMs, rejoinStableMs, ...). */
  config: Tunables
  network: { latencyMs: number, jitterMs: number, lossPermille: number, retransmitMs: number }
  disk: { syncBytesPerSec: number, cloudBytesMin: number, cloudBytesMax: number, capacityBytes: number }
  clients: { requestsPerSec: number }
  faults: FaultSpec[]
}

const SCENARIO_DIR = packagePath('sim', 'scenarios')

export function builtinScenarioNames (): string[] {
  return readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
}

/** A built-in scenario by name, or a scenario file by path. */
export function loadScenario (nameOrFile: string): Scenario {
  const builtin = join(SCENARIO_DIR, `${nameOrFile}.json`)
  const file = /^[a-z0-9-]+$/.test(nameOrFile) && existsSync(builtin) ? builtin : nameOrFile
  if (!existsSync(file)) {
    throw usage(`no scenario "${nameOrFile}": give a file or one of ${builtinScenarioNames().join(', ')}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw usage(`scenario ${file} is not valid JSON: ${(err as Error).message}`)
  }
  return parseScenario(raw, file)
}

/** Validates a parsed scenario file; every problem is a BAD_CONFIG naming the field. */
export function parseScenario (raw: unknown, source = 'scenario'): Scenario {
  const o = object(raw, source)
  const config = defaultTunables()
  const configured = object(o.config ?? {}, `${source}: config`)
  for (const [name, value] of Object.entries(configured)) {
    if (!(name in TUNABLES)) throw usage(`${source}: config.${name} is not a tunable`)
    config[name as keyof Tunables] = int(value, `${source}: config.${name}`, 0, Number.MAX_SAFE_INTEGER)
  }
  // The simulator models no pings: its nodes renew their lease in the view every heartbeat, as
  // view-only observers see it, unless a scenario sets a lease interval of its own.
  if (!('leaseIntervalMs' in configured)) config.leaseIntervalMs = config.heartbeatIntervalMs
  const network = object(o.network ?? {}, `${source}: network`)
  const disk = object(o.disk ?? {}, `${source}: disk`)
  const clients = object(o.clients ?? {}, `${source}: clients`)
  const faults = o.faults ?? []
  if (!Array.isArray(faults)) throw usage(`${source}: faults must be a list`)
  return {
    name: str(o.name ?? 'custom', `${source}: name`),
    description: str(o.description ?? '', `${source}: description`),
    nodes: int(o.nodes ?? 20, `${source}: nodes`, 1, 100_000),
    zones: int(o.zones ?? 3, `${source}: zones`, 1, 1000),
    clouds: int(o.clouds ?? 200, `${source}: clouds`, 0, 10_000_000),
    replicas: int(o.replicas ?? 3, `${source}: replicas`, 1, 16),
    durationMs: duration(o.duration ?? '30m', `${source}: duration`),
    recoveryBoundMs: duration(o.recoveryBound ?? '10m', `${source}: recoveryBound`),
    config,
    network: {
      latencyMs: duration(network.latency ?? '2ms', `${source}: network.latency`, true),
      jitterMs: duration(network.jitter ?? '3ms', `${source}: network.jitter`, true),
      lossPermille: int(network.lossPermille ?? 5, `${source}: network.lossPermille`, 0, 999),
      retransmitMs: duration(network.retransmit ?? '1s', `${source}: network.retransmit`)
    },
    disk: {
      syncBytesPerSec: int(disk.syncBytesPerSec ?? 50_000_000, `${source}: disk.syncBytesPerSec`, 1, Number.MAX_SAFE_INTEGER),
      cloudBytesMin: int(disk.cloudBytesMin ?? 1_000_000, `${source}: disk.cloudBytesMin`, 1, Number.MAX_SAFE_INTEGER),
      cloudBytesMax: int(disk.cloudBytesMax ?? 2_000_000_000, `${source}: disk.cloudBytesMax`, 1, Number.MAX_SAFE_INTEGER),
      capacityBytes: int(disk.capacityBytes ?? 4_000_000_000_000, `${source}: disk.capacityBytes`, 1, Number.MAX_SAFE_INTEGER)
    },
    clients: { requestsPerSec: num(clients.requestsPerSec ?? 20, `${source}: clients.requestsPerSec`, 0, 1_000_000) },
    faults: faults.map((f, i) => parseFault(f, `${source}: faults[${i}]`))
  }
}

function parseFault (raw: unknown, where: string): FaultSpec {
  const f = object(raw, where)
  const at = duration(f.at ?? '0s', `${where}.at`, true)
  const count = (name: string, dflt: number) => int(f[name] ?? dflt, `${where}.${name}`, 1, 100_000)
  const span = (name: string, dflt: string) => duration(f[name] ?? dflt, `${where}.${name}`)
  switch (f.kind) {
    case 'crash': return { kind: 'crash', at, nodes: count('nodes', 1), restartAfter: f.restartAfter === undefined || f.restartAfter === null ? null : span('restartAfter', '1m') }
    case 'zone-down': return { kind: 'zone-down', at, zones: count('zones', 1), for: span('for', '10m') }
    case 'partition': return { kind: 'partition', at, for: span('for', '5m') }
    case 'flap': return { kind: 'flap', at, nodes: count('nodes', 1), period: span('period', '20s'), for: span('for', '5m') }
    case 'churn': return { kind: 'churn', at, fraction: num(f.fraction ?? 0.1, `${where}.fraction`, 0, 1), within: span('within', '1m'), downFor: span('downFor', '30s') }
    case 'skew': return { kind: 'skew', at, nodes: count('nodes', 1), offset: duration(f.offset ?? '30s', `${where}.offset`, true) * (f.behind === true ? -1 : 1) }
    case 'pause': return { kind: 'pause', at, nodes: count('nodes', 1), for: span('for', '30s') }
    case 'load-spike': return { kind: 'load-spike', at, nodes: count('nodes', 1), loadPermille: int(f.loadPermille ?? 950, `${where}.loadPermille`, 0, 1000), for: span('for', '5m') }
    case 'rolling-restart': return { kind: 'rolling-restart', at, every: span('every', '1m'), downFor: span('downFor', '20s') }
    case 'grow': return { kind: 'grow', at, factor: num(f.factor ?? 2, `${where}.factor`, 1, 1000), within: span('within', '10m') }
    case 'drain': return { kind: 'drain', at, nodes: count('nodes', 1) }
    default: throw usage(`${where}.kind must be one of crash, zone-down, partition, flap, churn, skew, pause, load-spike, rolling-restart, grow, drain`)
  }
}

function usage (message: string): BevyError {
  return new BevyError(ErrorCode.BAD_CONFIG, message)
}

function object (v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw usage(`${where} must be an object`)
  return v as Record<string, unknown>
}

function str (v: unknown, where: string): string {
  if (typeof v !== 'string') throw usage(`${where} must be a string`)
  return v
}

function num (v: unknown, where: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw usage(`${where} must be a number from ${min} to ${max}`)
  return v
}

function int (v: unknown, where: string, min: number, max: number): number {
  const n = num(v, where, min, max)
  if (!Number.isInteger(n)) throw usage(`${where} must be a whole number`)
  return n
}

function duration (v: unknown, where: string, allowZero = false): number {
  if (typeof v !== 'string' && typeof v !== 'number') throw usage(`${where} must be a duration like "30s"`)
  return parseDuration(v, where, allowZero)
}
