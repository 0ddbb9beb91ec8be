// Brute-force brake on admin auth: failed attempts are counted per client address, and an address
// that failed `burst` times within a window gets 429 until that window ends, before its token is
// read or compared, even when the token is right (else the brake would still answer guesses).
// Successes are never counted, so an operator with the right token is never slowed.
//
// Not @fastify/rate-limit: 11.2 can count only failures (createRateLimit, peeking with
// { increment: false }), but its local store reads Date.now(), so a test could not end a window
// without sleeping; an injectable clock would mean writing its store ourselves, behind a promise
// per check and four more dependencies. This is that store, and nothing more.
import { isIPv6 } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import { ErrorCode, type Clock } from '../protocol/index.js'
import { pinOrigin } from './connection-pinning.js'
import { errorBody } from './errors.js'

export interface AuthLimitOptions {
  /** Failures an address may make per window before it is refused. */
  burst: number
  windowMs: number
  /** Monotonic milliseconds. */
  clock: Clock
  /** Addresses tracked at once; the least recently failing are forgotten first. */
  maxAddresses?: number
  /** Called once per window, when an address reaches the burst: for one log line, not one per attempt. */
  onLimited?: (address: string, window: { failures: number, windowMs: number }) => void
}

interface FailureWindow { startMs: number, failures: number }

/** Enough for a busy public node; each entry is a few dozen bytes. */
const DEFAULT_MAX_ADDRESSES = 10_000

export class AuthFailureLimiter {
  private readonly windows: LRUCache<string, FailureWindow>

  constructor (private readonly opts: AuthLimitOptions) {
    this.windows = new LRUCache({ max: opts.maxAddresses ?? DEFAULT_MAX_ADDRESSES })
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. Counts nothing. */
  retryAfterMs (address: string): number {
    const window = this.live(address)
    if (window === undefined || window.failures < this.opts.burst) return 0
    return window.startMs + this.opts.windowMs - this.opts.clock.now()
  }

  /** Records one failed attempt from `address`. */
  fail (address: string): void {
    const now = this.opts.clock.now()
    let window = this.live(address)
    if (window === undefined) this.windows.set(address, window = { startMs: now, failures: 0 })
    window.failures++
    if (window.failures === this.opts.burst) this.opts.onLimited?.(address, { failures: window.failures, windowMs: this.opts.windowMs })
  }

  /** How many addresses are tracked (for tests of the bound). */
  get size (): number {
    return this.windows.size
  }

  /** The address's window if it has not ended; an ended one is dropped. */
  private live (address: string): FailureWindow | undefined {
    const window = this.windows.get(address)
    if (window === undefined) return undefined
    if (this.opts.clock.now() < window.startMs + this.opts.windowMs) return window
    this.windows.delete(address)
    return undefined
  }
}

/**
 * The client a request counts against: on a connection another node pinned here, the client that
 * node named (the socket's peer is that node, whom every client pinned through it would share).
 */
export function clientKey (request: FastifyRequest): string {
  return limitKey(pinOrigin(request.raw.socket)?.client ?? request.ip ?? 'unknown')
}

/** 429 with Retry-After in whole seconds, at least 1; `what` names the failures counted. */
export function refuseLimited (reply: FastifyReply, waitMs: number, what = 'admin sign-ins'): FastifyReply {
  return reply.code(429).header('Retry-After', String(retryAfterSeconds(waitMs)))
    .send(errorBody(ErrorCode.RATE_LIMITED, limitedMessage(waitMs, what)))
}

export function retryAfterSeconds (waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000))
}

export function limitedMessage (waitMs: number, what: string): string {
  return `too many failed ${what} from this address; retry in ${retryAfterSeconds(waitMs)} s`
}

/**
 * The key an address is limited by. An IPv6 client usually holds a whole /64, so it counts as one
 * address (or it could rotate through 2^64 of them); an IPv4-mapped address counts as its IPv4 one.
 */
export function limitKey (address: string): string {
  if (!isIPv6(address)) return address
  const lower = address.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (mapped !== null) return mapped[1]!
  return ipv6Groups(lower).slice(0, 4).join(':') + '::/64'
}

/** The eight 16-bit groups of a valid IPv6 address in hex, '::' expanded, zone id dropped. */
function ipv6Groups (address: string): string[] {
  const [head = '', tail] = address.split('%', 1)[0]!.split('::')
  const groups = (part: string) => part === '' ? [] : part.split(':').flatMap(hexGroups)
  const left = groups(head)
  if (tail === undefined) return left
  const right = groups(tail)
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
}

/** One group, or two for a dotted IPv4 tail (::ffff:1.2.3.4). */
function hexGroups (group: string): string[] {
  if (!group.includes('.')) return [parseInt(group, 16).toString(16)]
  const b = group.split('.').map(Number)
  return [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)]
}
