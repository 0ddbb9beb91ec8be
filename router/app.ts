// The HTTP app factory. Kept apart from listen() so tests can inject requests without a port.
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Bevy } from '../node/bevy.js'
import { ErrorCode, type Clock } from '../protocol/index.js'
import { bearerToken, tokenMatches } from './auth.js'
import { AuthFailureLimiter, clientKey, refuseLimited } from './auth-limit.js'
import { limitOptions, urlTooLong } from './http-limits.js'
import { errorBody, frameworkErrors, registerErrorHandling } from './errors.js'
import { lazySerializerFactory, lazyValidatorFactory } from './lazy-compilers.js'
import { adminRoutes } from './routes/admin.js'
import { registerCloudRouting } from './cloud-routing.js'
import { addressByHost } from './host-addressing.js'
import { replicaFeedRoutes } from './routes/replica-feed.js'
import { cloudRoutes, nodeRoutes } from './routes/clouds.js'
import { healthRoutes } from './routes/health.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { NodeMetrics, metricsRoutes } from './metrics.js'
import { registerOpenApi } from './openapi.js'
import { SESSION_COOKIE, sessionOf, sessionRoutes, SessionStore } from './session.js'
import { PACKAGE_VERSION } from '../node/version.js'

export interface AppOptions {
  bevy: Bevy
  /** The admin token; read lazily because the node loads it during ready(). */
  adminToken: () => string
  log?: Logger
  /** Overrides the config's requestTimeoutMs (and caps headersTimeoutMs to it). */
  requestTimeoutMs?: number
  /** Monotonic clock the auth limiter's windows run on; tests move it by hand. */
  authClock?: Clock
}

/** Wall-clock jumps must not lengthen or end a lockout. */
const monotonicClock: Clock = { now: () => performance.now() }

/** /api routes anyone may call: the health probe, and signing in and out (they check the token themselves). */
const PUBLIC_ROUTES = new Set(['GET /api/health', 'POST /api/session', 'DELETE /api/session'])

function guarded (method: string, url: string): boolean {
  if (url.startsWith('/metrics')) return true
  if (!url.startsWith('/api/')) return false
  const path = url.split('?', 1)[0]!
  return !PUBLIC_ROUTES.has(`${method === 'HEAD' ? 'GET' : method} ${path}`)
}

/** Signing in checks the token in its handler; the auth limiter covers it as well. */
function signingIn (method: string, url: string): boolean {
  return method === 'POST' && url.split('?', 1)[0] === '/api/session'
}

export function buildApp (opts: AppOptions): FastifyInstance {
  const { bevy } = opts
  const { config } = bevy
  const requestTimeoutMs = opts.requestTimeoutMs ?? config.requestTimeoutMs
  const limits = { ...config, requestTimeoutMs, headersTimeoutMs: Math.min(config.headersTimeoutMs, requestTimeoutMs) }
  const app = Fastify({
    // Per-request lines are info-level; the node's http logger runs at warn to keep them out.
    ...(opts.log === undefined ? { logger: false } : { loggerInstance: opts.log }),
    // Refuse unknown body fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false } },
    // Validators and serializers are compiled on first use, not all at start (see lazy-compilers.ts).
    schemaController: { compilersFactory: { buildValidator: lazyValidatorFactory(), buildSerializer: lazySerializerFactory() } },
    ...limitOptions(limits, () => bevy.idTextOrNull),
    // These answers come before any hook: name the node here as the hook below does.
    frameworkErrors: (err, request, reply) => {
      const nodeId = bevy.idTextOrNull
      if (nodeId !== null) reply.header('X-Bevy-Node', nodeId)
      frameworkErrors(err, request, reply)
    },
    rewriteUrl: addressByHost
  }) as unknown as FastifyInstance
  registerErrorHandling(app)
  const sessions = new SessionStore({ ttlMs: config.sessionTtlMs, now: () => bevy.clock.now() })
  // One warn line per address and window; what was presented is never logged.
  const failureLimiter = (what: string) => new AuthFailureLimiter({
    burst: config.authFailureBurst,
    windowMs: config.authFailureWindowMs,
    clock: opts.authClock ?? monotonicClock,
    onLimited: (address, window) => app.log.warn({ address, ...window }, `too many failed ${what} from one address; refusing it until the window ends`)
  })
  const authLimit = failureLimiter('admin sign-ins')
  // Hosted clouds' write tokens and device signatures get a brake of their own: a device with a
  // stale clock must not lock its owner's address out of the admin API, nor the other way round.
  const writeAuthLimit = failureLimiter('cloud write credentials')
  const metrics = new NodeMetrics(bevy)
  // Cookies are parsed only where auth needs them (sessionOf), never on cloud requests.
  app.register(fastifyCookie, { hook: false })
  registerOpenApi(app, PACKAGE_VERSION)

  // Callback style, not async: this runs on every request, and a promise per hook shows in req/s.
  app.addHook('onRequest', (request, reply, done) => {
    const nodeId = bevy.idTextOrNull
    if (nodeId !== null) reply.header('X-Bevy-Node', nodeId)
    if (urlTooLong(request.raw.url, limits)) {
      reply.code(414).send(errorBody(ErrorCode.URI_TOO_LONG, `the URL is longer than ${limits.maxUrlBytes} bytes`))
      return
    }
    const needsAuth = guarded(request.method, request.url)
    if (needsAuth || signingIn(request.method, request.url)) {
      // A limited address is refused before anything it presented is read.
      const address = clientKey(request)
      const waitMs = authLimit.retryAfterMs(address)
      if (waitMs > 0) return void refuseLimited(reply, waitMs)
      if (needsAuth && !authorised(app, request.headers, opts.adminToken, sessions)) {
        // A request that presents nothing guesses nothing: a signed-out dashboard is not an attack.
        if (request.headers.authorization !== undefined || request.headers.cookie?.includes(SESSION_COOKIE) === true) authLimit.fail(address)
        reply.code(401).header('WWW-Authenticate', 'Bearer').send(errorBody(ErrorCode.UNAUTHORIZED, 'admin token or dashboard session required'))
        return
      }
    }
    done()
  })
  // Fastify's own clock for the request (reply.elapsedTime), measured from before our hooks ran.
  app.addHook('onResponse', (_request, reply, done) => { metrics.latency(reply.elapsedTime / 1000); done() })

  app.register(sessionRoutes({ sessions, adminToken: opts.adminToken, authLimit, secure: config.publicUrl?.startsWith('https:') ?? false, ttlMs: config.sessionTtlMs }))
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
    metrics,
    maxProxiedRequests: config.maxProxiedRequests,
    maxUrlBytes: config.maxUrlBytes,
    maxHeaderBytes: config.maxHeaderBytes,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    writeAuthLimit
  })
  return app
}

function authorised (app: FastifyInstance, headers: { authorization?: string, cookie?: string }, token: () => string, sessions: SessionStore): boolean {
  const bearer = bearerToken(headers.authorization)
  if (bearer !== undefined) return tokenMatches(bearer, token())
  return sessions.valid(sessionOf(app, headers.cookie))
}
