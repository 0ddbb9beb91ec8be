// The 307 a node answers for a cloud it leaves to another replica, and the fast path that sends it
// before Fastify sees the request.
//
// Why a fast path: a node without a copy answers most cloud requests with this 307, and bench:router
// holds it against a bare Fastify app answering a fixed 307 (target 0.9x). Deciding from the raw
// request and writing the head directly skips Fastify's lifecycle (Request/Reply objects, two
// onRequest hooks, an async handler, onSend). Measured (BENCHMARKS.md): 0.87x before, 0.76-0.90x
// after, within this VM's noise; O's CPU per redirect fell from ~19-21 to ~15 us (bare: 12-14).
// Only the plain case takes it: every other request, and every request it has any doubt about,
// goes to Fastify, whose cloud route gives the same answer. FastRedirects is the decision both
// fast paths share (this one and redirect-lane.ts), and counts what they answer.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { CloudRoute, RouteOptions } from '../node/bevy.js'
import { cloudOfHost, hostAddressedUrl, lacksRootSlash, parseCloudUrl } from './cloud-path.js'
import { pinOrigin } from './connection-pinning.js'
import { HOP_HEADER, ROUTE_HEADER } from './forwarding.js'
import { NO_ROUTER_METRICS, type RouterMetrics } from './metrics.js'
import type { CloudSource } from './routes/cloud-content.js'

export type RemoteRoute = Extract<CloudRoute, { kind: 'remote' }>

/** routeCloud's options for a request that gets a 307 if another replica is chosen: a node holding a synced copy serves it. */
export const REDIRECTING: Readonly<RouteOptions> = Object.freeze({ redirect: true })

/**
 * The headers of the 307 to `route` for a request whose path-addressed raw URL is `rawUrl`, as a
 * flat name, value, name, value list in the order they go out: the replica's URL + the same path
 * and query, never cached (the next request may go elsewhere), and the hop header so the replica
 * never sends the client on again. Both the fast path and the cloud route send these.
 */
export function redirectHeaders (route: RemoteRoute, rawUrl: string, self: string): string[] {
  const base = route.url.endsWith('/') ? route.url.slice(0, -1) : route.url
  return ['location', base + rawUrl, 'cache-control', 'no-store', HOP_HEADER, self]
}

export interface FastRedirectOptions {
  source: CloudSource
  metrics?: RouterMetrics
  /** Longer URLs go to Fastify, which answers 414. */
  maxUrlBytes: number
}

/**
 * The one decision both fast paths (redirectFirst here, the redirect lane below the HTTP server)
 * make, the one switch that turns them off, and the one way their 307s are counted once written.
 */
export class FastRedirects {
  private open = true
  private readonly metrics: RouterMetrics

  constructor (private readonly opts: FastRedirectOptions) {
    this.metrics = opts.metrics ?? NO_ROUTER_METRICS
  }

  /**
   * The 307's headers for a request the cloud route would redirect (see redirectHead); null for
   * anything else, and for everything once stopped.
   */
  answer (method: string, url: string, host: string | undefined, forwardedOrProxied: boolean): string[] | null {
    return this.open ? redirectHead(method, url, host, forwardedOrProxied, this.opts.source, this.opts.maxUrlBytes) : null
  }

  /** Counts one 307 sent: as redirected, and its latency from `startMs` (performance.now() when the request was read) to now. */
  sent (startMs: number): void {
    this.metrics.outcome('redirected')
    this.metrics.latency((performance.now() - startMs) / 1000)
  }

  /** From now on every request goes to Fastify (which answers 503 to requests arriving while it closes). */
  stop (): void {
    this.open = false
  }
}

/**
 * Puts the redirect fast path in front of `server`'s request handlers (Fastify's). It answers a
 * request only when the cloud route would answer it with a 307 to another replica, and writes
 * what that route writes after the app's hooks: X-Bevy-Node (the source's id, as buildApp's hook
 * sets it), the redirect headers, and content-length 0 except for HEAD, in Fastify's order and
 * case. It is only for apps whose hooks add nothing else to such a response. A request on a
 * connection another node pinned here is never redirected.
 */
export function redirectFirst (server: Server, redirects: FastRedirects): void {
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const start = performance.now()
    const { method, url, headers } = req
    const head = method === undefined || url === undefined || pinOrigin(req.socket) !== undefined
      ? null
      : redirects.answer(method, url, headers.host, headers[HOP_HEADER] !== undefined || headers[ROUTE_HEADER] === 'proxy')
    if (head === null) {
      for (const handler of handlers) handler.call(server, req, res)
      return
    }
    res.writeHead(307, head)
    res.end()
    redirects.sent(start)
  })
}

/**
 * The headers of the 307 the cloud route would answer a request with (X-Bevy-Node, the redirect
 * headers, and content-length 0 except for HEAD, in Fastify's order and case), or null for any
 * other answer: a GET or HEAD for /c/<cloud>/... (or a cloud's host) with a valid path that needs
 * no slash added, routed to another node. `forwardedOrProxied`: the request has a hop header or
 * X-Bevy-Route: proxy, so it is never redirected.
 */
export function redirectHead (method: string, url: string, host: string | undefined, forwardedOrProxied: boolean, source: CloudSource, maxUrlBytes: number): string[] | null {
  if ((method !== 'GET' && method !== 'HEAD') || forwardedOrProxied) return null
  if (url.charCodeAt(0) !== 47 /* / */ || url.length > maxUrlBytes) return null
  const cloud = cloudOfHost(host)
  const rawUrl = cloud === null ? url : hostAddressedUrl(cloud, url)
  if (!rawUrl.startsWith('/c/')) return null
  const self = source.idTextOrNull
  if (self === null) return null
  let chosen: CloudRoute
  try {
    const parsed = parseCloudUrl(rawUrl)
    if (cloud === null && lacksRootSlash(rawUrl, parsed)) return null // a 301 first
    chosen = source.routeCloud(parsed.cloudHex, REDIRECTING)
  } catch {
    return null // a bad path, an unknown cloud, a node not ready: Fastify gives the proper error
  }
  if (chosen.kind !== 'remote') return null
  const head = ['x-bevy-node', self, ...redirectHeaders(chosen, rawUrl, self)]
  if (method === 'GET') head.push('content-length', '0')
  return head
}
