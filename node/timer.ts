// Timers and the production Clock and Rng ports.
import { randomFillSync } from 'node:crypto'
import type { Rng } from '../protocol/index.js'

/** A repeating async task that never overlaps itself and never leaks a rejection. */
export class Repeater {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private stopped = false

  constructor (private readonly intervalMs: number, private readonly task: () => Promise<void>, private readonly onError: (err: unknown) => void) {}

  start (): void {
    if (this.timer !== null || this.stopped) return
    this.timer = setInterval(() => this.runOnce(), this.intervalMs)
  }

  /** Runs the task now unless a run is already under way; resolves when that run ends. */
  runOnce (): Promise<void> {
    if (this.running !== null || this.stopped) return this.running ?? Promise.resolve()
    this.running = this.task().catch(this.onError).finally(() => { this.running = null })
    return this.running
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}

export const systemClock = { now: (): number => Date.now() }

/**
 * An async task that never runs twice at once: a call while it runs makes it run once more
 * afterwards, however many calls came in between. Every caller gets the promise of the run that
 * covers its call.
 */
export class Coalesced {
  private running: Promise<void> | null = null
  private again = false

  constructor (private readonly task: () => Promise<void>, private readonly shouldStop: () => boolean = () => false) {}

  run (): Promise<void> {
    if (this.running !== null) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.task()
      } while (this.again && !this.shouldStop())
    })().finally(() => { this.running = null })
    return this.running
  }

  /** Resolves when no run is under way. */
  async idle (): Promise<void> {
    while (this.running !== null) await this.running.catch(() => {})
  }
}

/** Production randomness: crypto bytes drawn in batches, so a routing decision costs no syscall. */
export function cryptoRng (): Rng {
  const pool = Buffer.alloc(4096)
  let at = pool.length
  return {
    nextUint32 () {
      if (at + 4 > pool.length) { randomFillSync(pool); at = 0 }
      const value = pool.readUInt32LE(at)
      at += 4
      return value
    }
  }
}
