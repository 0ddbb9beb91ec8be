// The HTTP server's limits against slow and oversized input, set explicitly rather than left to
// Node's and Fastify's defaults, and the JSON answers given when a client exceeds one of them.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyHttpOptions } from 'fastify'
import type { Tunables } from '../node/config.js'
import { ErrorCode } from '../protocol/index.js'
import { errorBody } from './errors.js'

export type HttpLimits = Pick<Tunables, 'maxUrlBytes' | 'maxHeaderBytes' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'idleSocketTimeoutMs'>

/** JSON bodies on /api are small; cloud content bodies are never parsed (they stream). */
export const BODY_LIMIT_BYTES = 64 * 1024
/** How often Node looks for requests past headersTimeoutMs or requestTimeoutMs (its default is 30 s). */
const TIMEOUT_CHECK_MS = 5000

/** Fastify's options for `limits`. `self` names the node in answers to requests that never parsed. */
export function limitOptions (limits: HttpLimits, self: () => string | null): FastifyHttpOptions<http.Server> {
  return {
    // Options for http.createServer; Fastify sets requestTimeout and keepAliveTimeout itself after,
    // but Node checks headersTimeout against requestTimeout already at creation.
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, limits.headersTimeoutMs)
    },
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleSocketTimeoutMs,
    bodyLimit: BODY_LIMIT_BYTES,
    // find-my-way answers 404 for a longer parameter. Ours are keys and ids, checked by their
    // routes: let every one reach them, so a long key is a clear 400 BAD_KEY, not "no such route".
    routerOptions: { maxParamLength: limits.maxUrlBytes },
    clientErrorHandler: clientErrorHandler(self)
  }
}

/** True when a raw request URL is past the limit (its bytes are latin1 as the parser read them). */
export function urlTooLong (url: string | undefined, limits: Pick<HttpLimits, 'maxUrlBytes'>): boolean {
  return url !== undefined && url.length > limits.maxUrlBytes
}

/**
 * Answers a request the HTTP parser gave up on (a head too large, too slow, or not HTTP) in our
 * error shape instead of Fastify's, then closes the connection: the parser cannot go on after one.
 */
function clientErrorHandler (self: () => string | null) {
  return function (err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, ErrorCode.HEADERS_TOO_LARGE, 'the request head is larger than this node accepts'] as const
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, ErrorCode.REQUEST_TIMEOUT, 'the request did not arrive in time'] as const
          : [400, ErrorCode.BAD_REQUEST, 'malformed HTTP request'] as const
    // An answer already under way (the parser failed on the body of a request being answered)
    // must not get a second one after it: the client would read our 400 as the next response.
    const inFlight = (socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify(errorBody(code, message))
      const node = self()
      // A HEAD request's answer has no body, or the client reads the body as a next response.
      const head = (inFlight?.req.method ?? methodOf((err as { rawPacket?: Buffer }).rawPacket)) === 'HEAD'
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]!}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `${node === null ? '' : `x-bevy-node: ${node}\r\n`}connection: close\r\n\r\n${head ? '' : body}`)
    }
    socket.destroy()
  }
}

/** The method of a raw request that failed to parse, as far as its first bytes tell. */
function methodOf (raw: Buffer | undefined): string | undefined {
  if (raw === undefined) return undefined
  const space = raw.indexOf(0x20)
  return space > 0 && space <= 16 ? raw.toString('latin1', 0, space) : undefined
}
