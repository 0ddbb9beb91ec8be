// Structured logs with pino, on stderr so stdout carries only what a user asked for.
import pino, { type Logger } from 'pino'

export type { Logger }

/**
 * Secrets never reach a log line, whatever level: a request's credentials (Fastify logs request
 * headers at debug) and any field that carries a token, an invite or a fleet secret.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
  'token', 'adminToken', 'invite', 'join', 'secret', '*.token', '*.adminToken', '*.invite', '*.join', '*.secret'
]

export function createLogger (opts: { level?: string, pretty?: boolean, name?: string } = {}): Logger {
  const level = opts.level ?? 'info'
  const options = { level, name: opts.name, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
  if (opts.pretty === true) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 2 } }))
  }
  return pino(options, pino.destination({ dest: 2, sync: false }))
}

export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
