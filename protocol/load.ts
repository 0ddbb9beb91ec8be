// Load a node reports in its heartbeats. Fractions travel as integer permille so that every
// machine decodes bit-identical values and placement stays free of float drift.
import c from 'compact-encoding'
import { struct } from './struct.js'

export interface Load {
  /** System CPU use, 0..1000. */
  cpuPermille: number
  /** System memory in use, 0..1000. */
  memPermille: number
  /** This process's event-loop utilisation, 0..1000. */
  eventLoopPermille: number
  rssBytes: number
  memFreeBytes: number
  /** Open swarm connections. */
  connections: number
}

export const loadCodec = struct<Load>({
  cpuPermille: c.uint,
  memPermille: c.uint,
  eventLoopPermille: c.uint,
  rssBytes: c.uint,
  memFreeBytes: c.uint,
  connections: c.uint
})

export const EMPTY_LOAD: Load = Object.freeze({
  cpuPermille: 0, memPermille: 0, eventLoopPermille: 0, rssBytes: 0, memFreeBytes: 0, connections: 0
})

export function toPermille (fraction: number): number {
  if (!Number.isFinite(fraction)) return 0
  return Math.max(0, Math.min(1000, Math.round(fraction * 1000)))
}
