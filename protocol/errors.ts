// Typed errors. Every failure a user or peer can cause has one code, so the CLI can pick an
// exit code and the HTTP layer a status without parsing messages.

export const ErrorCode = {
  BAD_KEY: 'BAD_KEY',
  BAD_OP: 'BAD_OP',
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  UNKNOWN_OP: 'UNKNOWN_OP',
  BAD_INVITE: 'BAD_INVITE',
  INVITE_EXPIRED: 'INVITE_EXPIRED',
  INVITE_USED: 'INVITE_USED',
  INVITE_REJECTED: 'INVITE_REJECTED',
  PAIRING_TIMEOUT: 'PAIRING_TIMEOUT',
  BAD_CONFIG: 'BAD_CONFIG',
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  NOT_FOUND: 'NOT_FOUND',
  CLOUD_NOT_FOUND: 'CLOUD_NOT_FOUND',
  NODE_NOT_FOUND: 'NODE_NOT_FOUND',
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  BAD_PATH: 'BAD_PATH',
  BAD_VERSION: 'BAD_VERSION',
  NO_REPLICA: 'NO_REPLICA',
  UPSTREAM_FAILED: 'UPSTREAM_FAILED',
  UPSTREAM_TIMEOUT: 'UPSTREAM_TIMEOUT',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  NOT_WRITABLE: 'NOT_WRITABLE',
  NODE_UNREACHABLE: 'NODE_UNREACHABLE',
  STORAGE: 'STORAGE',
  CLOSED: 'CLOSED',
  NOT_READY: 'NOT_READY',
  STILL_HOLDING: 'STILL_HOLDING',
  INTERNAL: 'INTERNAL',
  RATE_LIMITED: 'RATE_LIMITED',
  URI_TOO_LONG: 'URI_TOO_LONG',
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  OVERLOADED: 'OVERLOADED',
  BAD_CLOUD_TOKEN: 'BAD_CLOUD_TOKEN',
  WRITE_NOT_CONFIRMED: 'WRITE_NOT_CONFIRMED',
  BAD_SIGNATURE: 'BAD_SIGNATURE'
} as const

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

/** Codes that mean "the caller gave us something wrong" (CLI exit 2, HTTP 4xx). */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.BAD_KEY, ErrorCode.BAD_INVITE, ErrorCode.INVITE_EXPIRED, ErrorCode.INVITE_USED,
  ErrorCode.INVITE_REJECTED, ErrorCode.BAD_CONFIG, ErrorCode.BAD_REQUEST, ErrorCode.BAD_PATH, ErrorCode.BAD_VERSION
])

export class BevyError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BevyError'
    this.code = code
  }

  /** True when the error is the caller's input, not a runtime failure. */
  get isUsage (): boolean {
    return USAGE_CODES.has(this.code)
  }
}

export function isBevyError (err: unknown, code?: ErrorCode): err is BevyError {
  return err instanceof BevyError && (code === undefined || err.code === code)
}
