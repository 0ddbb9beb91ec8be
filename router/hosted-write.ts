// PUT and DELETE on a hosted cloud at one of its replicas: checks the write token, streams the
// body into this replica's blob core under the size limit, and answers once the write is held by
// a second replica. Knows HTTP; the cloud itself is behind HostedWrites.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import { BevyError, ErrorCode, parseKey, type SignedWrite } from '../protocol/index.js'
import { limitedMessage, retryAfterSeconds, type AuthFailureLimiter } from './auth-limit.js'
import { statusOf } from './errors.js'
import type { HostedWriteResult } from './metrics.js'

/** What serving a write needs of the node (node/hosted/hosted-service.ts). */
export interface HostedWrites {
  checkToken (cloudHex: string, token: string | null): void
  checkSignedWrite (write: SignedWrite, publicKey: Buffer, signature: Buffer): void
  write (cloudHex: string, path: string, body: Readable, expectSha256?: Buffer | null): Promise<{ path: string, size: number, sha256: string, version: number }>
  delete (cloudHex: string, path: string): Promise<{ version: number }>
  readonly maxFileBytes: number
}

export interface HostedWriteRequest {
  cloudHex: string
  path: string
  /**
   * Brake on guessing write credentials: failed tokens and signatures count per client address
   * (`address`), and a limited address gets 429 before what it presents is checked.
   */
  limit?: { limiter: AuthFailureLimiter, address: string }
}

/** What the write limiter counts, for its 429 message. */
const WRITE_CREDENTIALS = 'cloud write credentials'

/** Seconds a client should wait before retrying a write no second replica confirmed. */
const UNCONFIRMED_RETRY_AFTER_S = 2

/** Answers a write and says how it ended (for the node's metrics). */
export async function serveHostedWrite (request: FastifyRequest, reply: FastifyReply, writes: HostedWrites, req: HostedWriteRequest, onResult: (result: HostedWriteResult) => void = () => {}): Promise<FastifyReply> {
  try {
    const answered = await answerWrite(request, reply, writes, req)
    onResult('written')
    return answered
  } catch (err) {
    onResult(resultOf(err))
    throw err
  }
}

function resultOf (err: unknown): HostedWriteResult {
  if (!(err instanceof BevyError)) return 'failed'
  if (err.code === ErrorCode.WRITE_NOT_CONFIRMED) return 'unconfirmed'
  return statusOf(err.code) < 500 ? 'refused' : 'failed'
}

async function answerWrite (request: FastifyRequest, reply: FastifyReply, writes: HostedWrites, req: HostedWriteRequest): Promise<FastifyReply> {
  // A refused write is answered before its body is read; the rest of the body would be taken
  // for the next request, so such a connection is closed after the answer.
  const refuse = (err: BevyError): never => {
    reply.header('Connection', 'close')
    throw err
  }
  const waitMs = req.limit?.limiter.retryAfterMs(req.limit.address) ?? 0
  if (waitMs > 0) {
    reply.header('Retry-After', String(retryAfterSeconds(waitMs)))
    refuse(new BevyError(ErrorCode.RATE_LIMITED, limitedMessage(waitMs, WRITE_CREDENTIALS)))
  }
  let expectSha256: Buffer | null = null
  let presented = false
  try {
    const signed = signedWrite(request, req)
    if (signed === null) {
      const token = bearerToken(request.headers.authorization)
      presented = token !== null
      writes.checkToken(req.cloudHex, token)
    } else {
      presented = true
      writes.checkSignedWrite(signed.write, signed.publicKey, signed.signature)
      expectSha256 = signed.write.sha256
    }
  } catch (err) {
    // A request that presents no credential guesses nothing, so it is refused but not counted.
    if (presented && req.limit !== undefined && err instanceof BevyError && (err.code === ErrorCode.BAD_CLOUD_TOKEN || err.code === ErrorCode.BAD_SIGNATURE)) {
      req.limit.limiter.fail(req.limit.address)
    }
    if (err instanceof BevyError) refuse(err)
    throw err
  }
  if (request.method === 'DELETE') {
    const { version } = await writes.delete(req.cloudHex, req.path)
    reply.header('X-Bevy-Version', String(version))
    return reply.code(204).send()
  }
  if (request.method !== 'PUT') {
    reply.header('Allow', 'GET, HEAD, PUT, DELETE')
    return refuse(new BevyError(ErrorCode.METHOD_NOT_ALLOWED, 'a hosted cloud takes GET, HEAD, PUT and DELETE'))
  }
  const declared = request.headers['content-length']
  if (declared !== undefined && Number(declared) > writes.maxFileBytes) {
    return refuse(new BevyError(ErrorCode.BODY_TOO_LARGE, `a file may be at most ${writes.maxFileBytes} bytes`))
  }
  try {
    const written = await writes.write(req.cloudHex, req.path, request.raw, expectSha256)
    reply.header('X-Bevy-Version', String(written.version))
    return reply.code(201).send(written)
  } catch (err) {
    if (err instanceof BevyError && err.code === ErrorCode.WRITE_NOT_CONFIRMED) reply.header('Retry-After', String(UNCONFIRMED_RETRY_AFTER_S))
    // A body cut short by an error is still arriving: the connection cannot carry another request.
    if (!request.raw.readableEnded) reply.header('Connection', 'close')
    throw err
  }
}

/** An owner device's signed write (X-Bevy-Device, -Time, -Content-Sha256, -Signature), or null for a token write. */
function signedWrite (request: FastifyRequest, req: HostedWriteRequest): { write: SignedWrite, publicKey: Buffer, signature: Buffer } | null {
  const header = (name: string): string | null => {
    const v = request.headers[name]
    return typeof v === 'string' && v.length > 0 ? v : null
  }
  const signature = header('x-bevy-signature')
  if (signature === null) return null
  const bad = (why: string): never => { throw new BevyError(ErrorCode.BAD_SIGNATURE, why) }
  const device = header('x-bevy-device') ?? bad('a signed write needs X-Bevy-Device (the device\'s public key)')
  const time = header('x-bevy-time') ?? bad('a signed write needs X-Bevy-Time (milliseconds since 1970)')
  if (!/^[0-9]{1,15}$/.test(time)) bad('X-Bevy-Time must be milliseconds since 1970')
  const method = request.method === 'PUT' || request.method === 'DELETE' ? request.method : bad('only PUT and DELETE are signed writes')
  const sha = header('x-bevy-content-sha256')
  if (method === 'PUT' && (sha === null || !/^[0-9a-f]{64}$/.test(sha))) bad('a signed PUT needs X-Bevy-Content-Sha256 (64 hex digits)')
  let publicKey: Buffer
  try {
    publicKey = parseKey(device, 'device key')
  } catch {
    return bad('X-Bevy-Device is not a key')
  }
  const write: SignedWrite = { method, cloud: Buffer.from(req.cloudHex, 'hex'), path: req.path, sha256: method === 'PUT' ? Buffer.from(sha as string, 'hex') : null, timeMs: Number(time) }
  return { write, publicKey, signature: Buffer.from(signature, 'base64') }
}

function bearerToken (header: string | undefined): string | null {
  if (header === undefined) return null
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match === null ? null : match[1] as string
}
