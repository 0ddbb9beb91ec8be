// The HTTP app factory. Kept apart from listen() so tests can inject requests without a port.
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Bevy } from '../node/bevy.js'
import { ErrorCode } from '../protocol/index.js'
import { bearerToken, tokenMatches } from './auth.js'
import { errorBody, frameworkErrors, registerErrorHandling } from './errors.js'
import { adminRoutes } from './routes/admin.js'
import { cloudOfHost, hostAddressedUrl } from './cloud-path.js'
import { ReplicaProxy } from './replica-proxy.js'
import { cloudContentRoutes, HOST_ADDRESSED } from './routes/cloud-content.js'
import { replicaFeedRoutes } from './routes/replica-feed.js'
import { proxyUpgrades } from './upgrade-proxy.js'
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
  const proxy = new ReplicaProxy({ timeoutMs: opts.bevy.config.proxyTimeoutMs })
  const detachUpgrades = proxyUpgrades(app.server, { source: opts.bevy, timeoutMs: opts.bevy.config.proxyTimeoutMs })
  app.addHook('onClose', async () => {
    detachUpgrades()
    proxy.close()
  })

  app.addHook('onRequest', async (request, reply) => {
    const nodeId = opts.bevy.idTextOrNull
    if (nodeId !== null) reply.header('X-Bevy-Node', nodeId)
    const path = request.url.split('?', 1)[0] ?? ''
    const guarded = (path.startsWith('/api/') && !PUBLIC_ROUTES.has(path)) || path === '/metrics'
    if (guarded && !tokenMatches(bearerToken(request.headers.authorization), opts.adminToken())) {
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send(errorBody(ErrorCode.UNAUTHORIZED, 'admin token required'))
    }
  })

  app.register(healthRoutes)
  app.register(adminRoutes(opts.bevy))
  app.register(cloudRoutes(opts.bevy))
  app.register(nodeRoutes(opts.bevy))
  app.register(replicaFeedRoutes(opts.bevy))
  app.register(cloudContentRoutes({ source: opts.bevy, proxy, mode: opts.bevy.config.route }))
  return app
}

/** `<cloud>.example.org/x` is served as `/c/<cloud>/x`, so a cloud's pages can use root-relative links. */
function addressByHost (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const cloud = cloudOfHost(req.headers.host)
  if (cloud === null) return url
  ;(req as IncomingMessage & { [HOST_ADDRESSED]?: boolean })[HOST_ADDRESSED] = true
  return hostAddressedUrl(cloud, url)
}
