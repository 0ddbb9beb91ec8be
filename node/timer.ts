// A repeating async task that never overlaps itself and never leaks a rejection.
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
