// Everything that answers cloud requests on one app: content routes, the replica proxy and the
// WebSocket relay, with one lifetime (closed with the app).
import type { FastifyInstance } from 'fastify'
import type { RouteMode } from '../node/config.js'
import { ReplicaProxy } from './replica-proxy.js'
import { cloudContentRoutes, type CloudSource } from './routes/cloud-content.js'
import { proxyUpgrades } from './upgrade-proxy.js'

export interface CloudRoutingOptions {
  source: CloudSource
  /** The default for requests that do not ask with X-Bevy-Route. */
  mode: RouteMode
  proxyTimeoutMs: number
}

export function registerCloudRouting (app: FastifyInstance, opts: CloudRoutingOptions): void {
  const proxy = new ReplicaProxy({ timeoutMs: opts.proxyTimeoutMs })
  const detachUpgrades = proxyUpgrades(app.server, { source: opts.source, timeoutMs: opts.proxyTimeoutMs })
  app.addHook('onClose', async () => {
    detachUpgrades()
    proxy.close()
  })
  app.register(cloudContentRoutes({ source: opts.source, proxy, mode: opts.mode }))
}
