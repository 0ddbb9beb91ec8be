// The HTTP app factory. Kept apart from listen() so tests can inject requests without a port.
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

export interface AppOptions {
  bevy: Bevy
  /** The admin token; read lazily because the node loads it during ready(). */
  adminToken: () => string
  log?: Logger
  requestTimeoutMs?: number
}

const PUBLIC_ROUTES = new Set(['/api/health'])

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

  // Callback style, not async: this runs on every request, and a promise per hook shows in req/s.
  app.addHook('onRequest', (request, reply, done) => {
    const nodeId = opts.bevy.idTextOrNull
    if (nodeId !== null) reply.header('X-Bevy-Node', nodeId)
    const url = request.url
    const guarded = (url.startsWith('/api/') && !PUBLIC_ROUTES.has(url.split('?', 1)[0]!)) || url.startsWith('/metrics')
    if (guarded && !tokenMatches(bearerToken(request.headers.authorization), opts.adminToken())) {
      reply.code(401).header('WWW-Authenticate', 'Bearer').send(errorBody(ErrorCode.UNAUTHORIZED, 'admin token required'))
      return
    }
    done()
  })

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
    fastRedirects: true
  })
  return app
}
