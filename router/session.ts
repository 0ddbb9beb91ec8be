// Dashboard sign-in: the admin token, posted once, buys a random session id kept in an HttpOnly,
// SameSite=Strict cookie, so page scripts never hold the token and other sites cannot ride on it.
// Sessions live in memory: a restart signs everyone out, which is the safe failure.
import { randomBytes } from 'node:crypto'
import type {} from '@fastify/cookie'
import type {} from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { ErrorCode } from '../protocol/index.js'
import { tokenMatches } from './auth.js'
import { clientKey, refuseLimited, type AuthFailureLimiter } from './auth-limit.js'
import { errorBody } from './errors.js'
import { errorSchema } from './schemas.js'

export const SESSION_COOKIE = 'bevy_session'

export class SessionStore {
  private readonly expiries = new Map<string, number>()

  constructor (private readonly opts: { ttlMs: number, now: () => number }) {}

  create (): string {
    this.sweep()
    const id = randomBytes(32).toString('base64url')
    this.expiries.set(id, this.opts.now() + this.opts.ttlMs)
    return id
  }

  valid (id: string | undefined): boolean {
    if (id === undefined) return false
    const expiry = this.expiries.get(id)
    if (expiry === undefined) return false
    if (expiry > this.opts.now()) return true
    this.expiries.delete(id)
    return false
  }

  revoke (id: string | undefined): void {
    if (id !== undefined) this.expiries.delete(id)
  }

  /** Drops expired sessions, so signing in often cannot grow the map without bound. */
  private sweep (): void {
    const now = this.opts.now()
    for (const [id, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(id)
  }
}

const okSchema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } as const

export interface SessionRouteOptions {
  sessions: SessionStore
  adminToken: () => string
  /** Counts wrong tokens per client address; a limited address is refused before comparing. */
  authLimit: AuthFailureLimiter
  /** Mark the cookie Secure: the node is reached over https (its public URL says so). */
  secure: boolean
  ttlMs: number
}

/** /api/session: GET checks (the app's auth hook answers 401), POST signs in, DELETE signs out. */
export function sessionRoutes (opts: SessionRouteOptions) {
  return async function (app: FastifyInstance): Promise<void> {
    const cookie = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: opts.secure }

    app.get('/api/session', {
      schema: { summary: 'Whether the caller is signed in (cookie or bearer token)', tags: ['dashboard'], response: { 200: okSchema, '4xx': errorSchema } }
    }, async () => ({ ok: true }))

    app.post<{ Body: { token: string } }>('/api/session', {
      schema: {
        summary: 'Sign in to the dashboard with the admin token; sets an HttpOnly session cookie',
        tags: ['dashboard'],
        security: [],
        body: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 1024 } }, required: ['token'], additionalProperties: false },
        response: { 200: okSchema, '4xx': errorSchema }
      }
    }, async (request, reply) => {
      // Checked again here (the app's hook checked before the body arrived): attempts in flight
      // together must not get past the burst.
      const address = clientKey(request)
      const waitMs = opts.authLimit.retryAfterMs(address)
      if (waitMs > 0) return refuseLimited(reply, waitMs)
      if (!tokenMatches(request.body.token, opts.adminToken())) {
        opts.authLimit.fail(address)
        return reply.code(401).send(errorBody(ErrorCode.UNAUTHORIZED, 'wrong admin token'))
      }
      reply.setCookie(SESSION_COOKIE, opts.sessions.create(), { ...cookie, maxAge: Math.floor(opts.ttlMs / 1000) })
      return { ok: true }
    })

    app.delete('/api/session', {
      schema: { summary: 'Sign out of the dashboard', tags: ['dashboard'], security: [], response: { 200: okSchema } }
    }, async (request, reply) => {
      opts.sessions.revoke(sessionOf(app, request.headers.cookie))
      reply.clearCookie(SESSION_COOKIE, cookie)
      return { ok: true }
    })
  }
}

/** The session id in a Cookie header, parsed only on routes that need it (never on cloud requests). */
export function sessionOf (app: FastifyInstance, header: string | undefined): string | undefined {
  if (header === undefined || !header.includes(SESSION_COOKIE)) return undefined
  return app.parseCookie(header)[SESSION_COOKIE]
}
