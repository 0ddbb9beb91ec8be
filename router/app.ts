// The HTTP app factory. Kept apart from listen() so tests can inject requests without a port.
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Bevy } from '../node/bevy.js'
import { ErrorCode } from '../protocol/index.js'
import { bearerToken, tokenMatches } from './auth.js'
import { errorBody, frameworkErrors, registerErrorHandling } from './errors.js'
import { adminRoutes } from './routes/admin.js'
import { registerCloudRouting } from './cloud-routing.js'
import { addressByHost } from './host-addressing.js'
import { replicaFeedRoutes } from './routes/replica-feed.js'
import { cloudRoutes, nodeRoutes } from './routes/clouds.js'
import { healthRoutes } from './routes/health.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { NodeMetrics, metricsRoutes } from './metrics.js'
import { registerOpenApi } from './openapi.js'
import { sessionOf, sessionRoutes, SessionStore } from './session.js'
import { PACKAGE_VERSION } from '../node/version.js'

export interface AppOptions {
  bevy: Bevy
  /** The admin token; read lazily because the node loads it during ready(). */
  adminToken: () => string
  log?: Logger
  requestTimeoutMs?: number
}

/** /api routes anyone may call: the health probe, and signing in and out (they check the token themselves). */
const PUBLIC_ROUTES = new Set(['GET /api/health', 'POST /api/session', 'DELETE /api/session'])

function guarded (method: string, url: string): boolean {
  if (url.startsWith('/metrics')) return true
  if (!url.startsWith('/api/')) return false
  const path = url.split('?', 1)[0]!
  return !PUBLIC_ROUTES.has(`${method === 'HEAD' ? 'GET' : method} ${path}`)
}

export function buildApp (opts: AppOptions): FastifyInstance {
  const app = Fastify({
    // Per-request lines are info-level; the node's http logger runs at warn to keep them out.
    ...(opts.log === undefined ? { logger: false } : { loggerInstance: opts.log }),
    // Refuse unknown body fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false } },
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    bodyLimit: 64 * 1024,
    frameworkErrors,
    rewriteUrl: addressByHost
  }) as unknown as FastifyInstance
  registerErrorHandling(app)
  const { bevy } = opts
  const sessions = new SessionStore({ ttlMs: bevy.config.sessionTtlMs, now: () => bevy.clock.now() })
  const metrics = new NodeMetrics(bevy)
  // Cookies are parsed only where auth needs them (sessionOf), never on cloud requests.
  app.register(fastifyCookie, { hook: false })
  registerOpenApi(app, PACKAGE_VERSION)

  // Callback style, not async: this runs on every request, and a promise per hook shows in req/s.
  app.addHook('onRequest', (request, reply, done) => {
    const nodeId = bevy.idTextOrNull
    if (nodeId !== null) reply.header('X-Bevy-Node', nodeId)
    if (guarded(request.method, request.url) && !authorised(app, request.headers, opts.adminToken(), sessions)) {
      reply.code(401).header('WWW-Authenticate', 'Bearer').send(errorBody(ErrorCode.UNAUTHORIZED, 'admin token or dashboard session required'))
      return
    }
    done()
  })
  // Fastify's own clock for the request (reply.elapsedTime), measured from before our hooks ran.
  app.addHook('onResponse', (_request, reply, done) => { metrics.latency(reply.elapsedTime / 1000); done() })

  app.register(sessionRoutes({ sessions, adminToken: opts.adminToken, secure: bevy.config.publicUrl?.startsWith('https:') ?? false, ttlMs: bevy.config.sessionTtlMs }))
  app.register(metricsRoutes(metrics))
  app.register(dashboardRoutes(bevy))
  app.register(healthRoutes)
  app.register(adminRoutes(opts.bevy))
  app.register(cloudRoutes(opts.bevy))
  app.register(nodeRoutes(opts.bevy))
  app.register(replicaFeedRoutes(opts.bevy))
  registerCloudRouting(app, {
    source: opts.bevy,
    mode: opts.bevy.config.route,
    proxyTimeoutMs: opts.bevy.config.proxyTimeoutMs,
    isMember: (nodeId) => opts.bevy.isMember(nodeId),
    // The hook above adds only X-Bevy-Node (the bevy's id) to a cloud request's answer.
    fastRedirects: true,
    metrics
  })
  return app
}

function authorised (app: FastifyInstance, headers: { authorization?: string, cookie?: string }, token: string, sessions: SessionStore): boolean {
  const bearer = bearerToken(headers.authorization)
  if (bearer !== undefined) return tokenMatches(bearer, token)
  return sessions.valid(sessionOf(app, headers.cookie))
}
