// One JSON error shape for every failure: {"error":{"code","message"}}. Never a stack trace.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BevyError, ErrorCode } from '../protocol/index.js'

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_KEY]: 400,
  [ErrorCode.BAD_REQUEST]: 400,
  [ErrorCode.BAD_CONFIG]: 400,
  [ErrorCode.BAD_PATH]: 400,
  [ErrorCode.BAD_VERSION]: 400,
  [ErrorCode.BAD_INVITE]: 400,
  [ErrorCode.INVITE_EXPIRED]: 400,
  [ErrorCode.INVITE_USED]: 400,
  [ErrorCode.INVITE_REJECTED]: 400,
  [ErrorCode.FILE_NOT_FOUND]: 404,
  [ErrorCode.NO_REPLICA]: 503,
  [ErrorCode.UPSTREAM_FAILED]: 502,
  [ErrorCode.UPSTREAM_TIMEOUT]: 504,
  [ErrorCode.METHOD_NOT_ALLOWED]: 405,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CLOUD_NOT_FOUND]: 404,
  [ErrorCode.NODE_NOT_FOUND]: 404,
  [ErrorCode.NOT_WRITABLE]: 503,
  [ErrorCode.NOT_READY]: 503,
  [ErrorCode.STILL_HOLDING]: 409,
  [ErrorCode.CLOSED]: 503,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.URI_TOO_LONG]: 414,
  [ErrorCode.HEADERS_TOO_LARGE]: 431,
  [ErrorCode.BODY_TOO_LARGE]: 413,
  [ErrorCode.REQUEST_TIMEOUT]: 408,
  [ErrorCode.OVERLOADED]: 503,
  [ErrorCode.BAD_CLOUD_TOKEN]: 401,
  [ErrorCode.WRITE_NOT_CONFIRMED]: 503,
  [ErrorCode.BAD_SIGNATURE]: 401
}

/** Fastify's codes for a client's mistakes, in our vocabulary; other FST_ codes are BAD_REQUEST. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.BODY_TOO_LARGE
}

function clientErrorCode (code: string | undefined): string {
  if (code === undefined) return ErrorCode.BAD_REQUEST
  return FRAMEWORK_CODES[code] ?? (code.startsWith('FST_') ? ErrorCode.BAD_REQUEST : code)
}

/**
 * Storage errors that mean the copy being read went away under the request (purged after a
 * handoff, closed by a stop) or could not be fetched in time: the client should come back and be
 * routed again, so they answer 503 with Retry-After instead of a 500.
 */
const GONE_STORAGE_CODES = new Set(['SESSION_CLOSED', 'REQUEST_CANCELLED', 'REQUEST_TIMEOUT', 'BLOCK_NOT_AVAILABLE', 'SNAPSHOT_NOT_AVAILABLE', 'SESSION_MOVED'])

/** The HTTP status for an error code; 500 for codes that are bugs. */
export function statusOf (code: ErrorCode): number {
  return STATUS_BY_CODE[code] ?? 500
}

export interface ErrorBody { error: { code: string, message?: string } }

export function errorBody (code: string, message?: string): ErrorBody {
  return { error: message === undefined ? { code } : { code, message } }
}

/**
 * Fastify's own request errors (a URL it cannot decode, a bad content type) in our error shape.
 * Pass as the `frameworkErrors` option of Fastify().
 */
export function frameworkErrors (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const code = err.code === 'FST_ERR_BAD_URL' ? ErrorCode.BAD_PATH : ErrorCode.BAD_REQUEST
  reply.code(typeof err.statusCode === 'number' ? err.statusCode : 400).send(errorBody(code, err.message))
}

export function registerErrorHandling (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | BevyError, request, reply) => {
    // A handler may have set a file's headers before failing; none of them fit an error body.
    for (const header of ['content-length', 'content-range', 'etag', 'accept-ranges', 'cache-control']) reply.removeHeader(header)
    reply.type('application/json; charset=utf-8')
    if (err instanceof BevyError) {
      const status = statusOf(err.code)
      if (status >= 500) request.log.warn({ err }, 'request failed')
      return reply.code(status).send(errorBody(err.code, err.message))
    }
    if (err.validation !== undefined) {
      // Ajv's "must NOT have additional properties" does not say which one; name it.
      const extra = err.validation.map((v) => (v.params as { additionalProperty?: unknown }).additionalProperty).find((p) => typeof p === 'string')
      return reply.code(400).send(errorBody(ErrorCode.BAD_REQUEST, extra === undefined ? err.message : `${err.message}: "${String(extra)}"`))
    }
    if (typeof err.code === 'string' && GONE_STORAGE_CODES.has(err.code)) {
      request.log.warn({ err: err.message }, 'the copy went away during the request')
      return reply.code(503).header('retry-after', '1').send(errorBody(ErrorCode.CLOSED, 'this copy is going away; retry to be routed to another'))
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) {
      request.log.error({ err }, 'unhandled error')
      return reply.code(500).send(errorBody(ErrorCode.INTERNAL, 'internal error'))
    }
    return reply.code(status).send(errorBody(clientErrorCode(err.code), err.message))
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody(ErrorCode.NOT_FOUND, 'no such route')))
}
