// Everything that answers cloud requests on one app: content routes, the replica proxy (pinned
// connections first, fast-proxy per request otherwise) and the WebSocket relay, with one lifetime.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TUNABLES, type RouteMode } from '../node/config.js'
import type { AuthFailureLimiter } from './auth-limit.js'
import { cloudOfHost, hostAddressedUrl, parseCloudUrl } from './cloud-path.js'
import { ConcurrencyGate } from './concurrency-gate.js'
import { pinConnections, pinOrigin, type PinTarget } from './connection-pinning.js'
import { HOP_HEADER, ROUTE_HEADER } from './forwarding.js'
import type { RouterMetrics } from './metrics.js'
import { FastRedirects, redirectFirst } from './redirect.js'
import { redirectLane } from './redirect-lane.js'
import { ReplicaProxy } from './replica-proxy.js'
import type { RequestHead } from './request-head.js'
import { cloudContentRoutes, type CloudSource } from './routes/cloud-content.js'
import { proxyUpgrades } from './upgrade-proxy.js'

export interface CloudRoutingOptions {
  source: CloudSource
  /** The default for requests that do not ask with X-Bevy-Route. */
  mode: RouteMode
  proxyTimeoutMs: number
  /** Whether a node id (z-base-32) belongs to the bevy: only members may pin connections here. */
  isMember: (nodeId: string) => boolean
  /**
   * Answer plain redirects before Fastify (redirect.ts). Only for apps whose hooks add nothing to
   * a cloud redirect but X-Bevy-Node = the source's id, as buildApp's do. Off in proxy mode.
   */
  fastRedirects?: boolean
  metrics?: RouterMetrics
  /** Proxied requests, pinned connections and WebSocket relays in flight at once; more get 503. */
  maxProxiedRequests?: number
  /** Longer URLs are left to the app, which answers 414: no fast path may take them. */
  maxUrlBytes?: number
  /** The HTTP server's limits, which the redirect lane keeps too. */
  maxHeaderBytes?: number
  keepAliveTimeoutMs?: number
  /** Counts failed hosted-cloud write credentials per client address; none when absent. */
  writeAuthLimit?: AuthFailureLimiter
}

export function registerCloudRouting (app: FastifyInstance, opts: CloudRoutingOptions): void {
  const { source } = opts
  const maxUrlBytes = opts.maxUrlBytes ?? TUNABLES.maxUrlBytes.default
  const gate = new ConcurrencyGate(opts.maxProxiedRequests ?? TUNABLES.maxProxiedRequests.default)
  const proxy = new ReplicaProxy({ timeoutMs: opts.proxyTimeoutMs })
  const detachUpgrades = proxyUpgrades(app.server, { source, timeoutMs: opts.proxyTimeoutMs, gate, maxUrlBytes })
  // Plain redirects on keep-alive connections are answered below the HTTP server (redirect-lane.ts),
  // the first request of other connections and later ones in front of Fastify (redirect.ts).
  const redirects = opts.fastRedirects === true && opts.mode !== 'proxy'
    ? new FastRedirects({ source, maxUrlBytes, metrics: opts.metrics })
    : null
  const lane = redirects === null
    ? undefined
    : redirectLane({
      answer: (method, url, host, forwardedOrProxied) => redirects.answer(method, url, host, forwardedOrProxied),
      sent: (startMs) => redirects.sent(startMs),
      keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? TUNABLES.keepAliveTimeoutMs.default,
      maxHeadBytes: opts.maxHeaderBytes ?? TUNABLES.maxHeaderBytes.default
    })
  const unpin = pinConnections(app.server, {
    lane,
    // A full gate or a long URL: not pinned, so the HTTP server gives the 503 or 414.
    choose: (head) => gate.full || head.url.length > maxUrlBytes ? null : pinTarget(head, opts),
    self: () => source.idTextOrNull,
    isMember: opts.isMember,
    begin: (nodeHex) => {
      // choose() just saw a free slot, in this same tick.
      const leave = gate.tryEnter()
      const done = source.routing.begin(nodeHex)
      return () => { done(); leave?.() }
    },
    fail: (nodeHex) => source.routing.fail(nodeHex, source.clock.now()),
    timeoutMs: opts.proxyTimeoutMs
  })
  // After pinning: pinned connections reach the request handlers as before, and are never redirected.
  if (redirects !== null) redirectFirst(app.server, redirects)
  app.addHook('onRequest', adoptPinnedRequest)
  // Fastify answers 503 to requests that arrive while it closes; the fast paths must not answer them.
  if (redirects !== null) app.addHook('preClose', (done) => { redirects.stop(); done() })
  // Relayed WebSockets end as the node starts to stop: they have no request to let finish, and
  // the server's close (before onClose) would wait on them for as long as their clients stay.
  app.addHook('preClose', (done) => { detachUpgrades(); done() })
  app.addHook('onClose', async () => {
    unpin()
    detachUpgrades()
    proxy.close()
  })
  app.register(cloudContentRoutes({ source, proxy, gate, mode: opts.mode, metrics: opts.metrics, ...(opts.writeAuthLimit === undefined ? {} : { writeAuthLimit: opts.writeAuthLimit }) }))
}

/**
 * The replica to pin a new connection to, judging by its first request: a proxied GET or HEAD
 * for a cloud whose chosen replica is another node over plain HTTP. Anything else goes to L7.
 */
function pinTarget (head: RequestHead, opts: CloudRoutingOptions): PinTarget | null {
  if ((head.method !== 'GET' && head.method !== 'HEAD') || head.minor !== 1) return null
  if (head.headers.has('upgrade') || head.headers.has(HOP_HEADER)) return null
  if (opts.mode !== 'proxy' && head.headers.get(ROUTE_HEADER) !== 'proxy') return null
  const cloud = cloudOfHost(head.headers.get('host'))
  const url = cloud === null ? head.url : hostAddressedUrl(cloud, head.url)
  if (!url.startsWith('/c/')) return null
  try {
    const route = opts.source.routeCloud(parseCloudUrl(url).cloudHex)
    return route.kind === 'remote' && route.url.startsWith('http:') ? { url: route.url, nodeHex: route.nodeHex } : null
  } catch {
    return null // a bad path or unknown cloud: the HTTP server gives the proper error
  }
}

/**
 * A request on a connection another node pinned here: it carries the client's forwarding
 * headers and the hop (so it is served or proxied, never redirected), and answers as proxied.
 */
function adoptPinnedRequest (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const origin = pinOrigin(request.raw.socket)
  if (origin === undefined) return done()
  const h = request.headers
  h['x-forwarded-for'] = h['x-forwarded-for'] === undefined ? origin.client : `${String(h['x-forwarded-for'])}, ${origin.client}`
  h['x-forwarded-proto'] ??= origin.proto
  h['x-forwarded-host'] ??= h.host
  h[HOP_HEADER] = h[HOP_HEADER] === undefined ? origin.entry : `${String(h[HOP_HEADER])},${origin.entry}`
  const self = reply.getHeader('x-bevy-node')
  reply.header('x-bevy-node', origin.entry)
  if (self !== undefined) reply.header('x-bevy-replica', self)
  done()
}
