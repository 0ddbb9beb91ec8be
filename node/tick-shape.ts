// Keeps the shape of Node's process.nextTick objects alive for the life of the process.
//
// Why: Node 20 builds each nextTick entry as an object literal keyed by two internal symbols. V8
// holds the map transitions of that shape weakly, so in a node's large heap a major GC that
// finds no tick object alive drops them, the next nextTick builds a fresh shape, and after a few
// such GCs the literal's feedback goes megamorphic: every nextTick (and every stream read, write,
// resume and end, which all schedule one) then defines its properties through V8's runtime slow
// path. Measured in bench:router (BENCHMARKS.md): 16 % of the routing node's CPU in the redirect
// case went to those slow paths (1.4 % in a bare Fastify process); with one object of that shape
// held here, they were gone from the profile.
import { AsyncResource, executionAsyncId, triggerAsyncId } from 'node:async_hooks'

let keeper: object | null = null

/**
 * Holds one object shaped like a nextTick entry, built the way Node builds them, so that shape
 * never dies. Idempotent; returns false (and does nothing) if this Node names its symbols differently.
 */
export function keepTickObjectShape (): boolean {
  if (keeper !== null) return true
  // An AsyncResource carries the same two internal symbols as own properties.
  const symbols = Object.getOwnPropertySymbols(new AsyncResource('bevy-tick-shape'))
  const asyncId = symbols.find((s) => s.description === 'async_id_symbol')
  const triggerId = symbols.find((s) => s.description === 'trigger_async_id_symbol')
  if (asyncId === undefined || triggerId === undefined) return false
  // Same keys, same order and same kinds of values as Node's own literal (task_queues.js).
  keeper = { [asyncId]: executionAsyncId(), [triggerId]: triggerAsyncId(), callback: keepTickObjectShape, args: undefined }
  return true
}
