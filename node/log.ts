// Structured logs with pino, on stderr so stdout carries only what a user asked for.
import pino, { type Logger } from 'pino'

export type { Logger }

export function createLogger (opts: { level?: string, pretty?: boolean, name?: string } = {}): Logger {
  const level = opts.level ?? 'info'
  if (opts.pretty === true) {
    return pino({ level, name: opts.name }, pino.transport({ target: 'pino-pretty', options: { destination: 2 } }))
  }
  return pino({ level, name: opts.name }, pino.destination({ dest: 2, sync: false }))
}

export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
