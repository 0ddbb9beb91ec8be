// Graceful stop: the first SIGINT/SIGTERM (or the parent closing our IPC channel, or `stopWhen`
// settling, as when the node left its bevy) closes everything in order; a second signal forces
// the exit.
import type { Logger } from '../log.js'

/**
 * `release()` is asked once the close is done: true means the process goes on (a fleet node
 * restarting into another bevy), so the handlers are removed instead of kept for a forced exit.
 */
export function untilShutdown (log: Logger, graceMs: number, close: () => Promise<void>, stopWhen?: Promise<string>, release: () => boolean = () => false): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false
    const stop = (reason: string) => {
      if (stopping) {
        log.warn({ reason }, 'forced exit')
        process.exit(1)
      }
      stopping = true
      log.info({ reason }, 'shutting down')
      // Bound the whole shutdown: a stuck close must not keep the process alive forever.
      const force = setTimeout(() => {
        log.error('shutdown took too long; forcing exit')
        process.exit(1)
      }, graceMs + 15_000)
      force.unref()
      // The signal handlers stay: if anything keeps the process alive after the close, a second
      // signal must still force the exit rather than kill it by the signal's default action.
      close().catch((err) => log.error({ err }, 'error while closing')).finally(() => {
        clearTimeout(force)
        process.off('disconnect', onDisconnect)
        if (release()) {
          process.off('SIGINT', onInt)
          process.off('SIGTERM', onTerm)
        }
        resolve()
      })
    }
    const onInt = () => stop('SIGINT')
    const onTerm = () => stop('SIGTERM')
    const onDisconnect = () => stop('parent went away')
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
    // A node spawned with an IPC channel (demo, tests) must not outlive its parent.
    if (process.send !== undefined) process.on('disconnect', onDisconnect)
    stopWhen?.then((reason) => { if (!stopping) stop(reason) }, () => {})
  })
}
