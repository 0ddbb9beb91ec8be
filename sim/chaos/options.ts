// What a chaos run takes, with defaults, and the duration syntax the CLI accepts (60s, 2m, 1500ms).

export interface ChaosOptions {
  /** Node processes in the bevy. */
  nodes: number
  /** How long faults are injected, in ms; clients run throughout. */
  durationMs: number
  /** Seeds the fault schedule, the cloud contents and the clients' choices. */
  seed: number
  /** Clouds the owner creates and registers. */
  clouds: number
  /** Hosted (multi-writer) clouds created at the start and written to throughout. */
  hostedClouds: number
  /** Replicas kept of each cloud. */
  replicas: number
  /** Nodes down (killed, stopped or paused) at the same time, at most; below `replicas`. */
  maxDown: number
  /** How long, after faults stop, every cloud may take to be back at full health. */
  recoveryBoundMs: number
  /** Concurrent simulated clients. */
  clients: number
  /** Log level of the node processes. */
  nodeLogLevel: string
}

export const DEFAULT_OPTIONS: ChaosOptions = {
  nodes: 5,
  durationMs: 60_000,
  seed: 0,
  clouds: 3,
  hostedClouds: 1,
  replicas: 3,
  maxDown: 1,
  recoveryBoundMs: 60_000,
  clients: 4,
  nodeLogLevel: 'info'
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "60s", "2m", "1500ms", "1h" or a bare number of seconds, to ms. */
export function parseDuration (text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) throw new Error(`a duration looks like 60s, 2m or 1500ms, got "${text}"`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!)
}

/** Throws on options a run cannot honour; returns them otherwise. */
export function validateOptions (o: ChaosOptions): ChaosOptions {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`)
  }
  int('nodes', o.nodes, 2)
  int('clouds', o.clouds, 1)
  int('hostedClouds', o.hostedClouds, 0)
  int('replicas', o.replicas, 2)
  int('clients', o.clients, 1)
  int('maxDown', o.maxDown, 1)
  int('seed', o.seed, 0)
  if (o.seed > 0xffff_ffff) throw new Error(`seed must fit in 32 bits, got ${o.seed}`)
  if (o.replicas > o.nodes) throw new Error(`replicas (${o.replicas}) cannot exceed nodes (${o.nodes})`)
  // With replicas-1 nodes down at most, a synced copy always survives: data cannot legitimately be lost.
  if (o.maxDown > o.replicas - 1) throw new Error(`max-down must be below replicas (${o.replicas}), got ${o.maxDown}`)
  if (o.durationMs < 1000) throw new Error(`duration must be at least 1s, got ${o.durationMs} ms`)
  if (o.recoveryBoundMs < 1000) throw new Error(`recovery bound must be at least 1s, got ${o.recoveryBoundMs} ms`)
  return o
}
