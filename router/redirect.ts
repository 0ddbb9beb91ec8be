// The 307 a node answers for a cloud it leaves to another replica, and the fast path that sends it
// before Fastify sees the request.
//
// Why a fast path: a node without a copy answers most cloud requests with this 307, and bench:router
// holds it against a bare Fastify app answering a fixed 307 (target 0.9x). Deciding from the raw
// request and writing the head directly skips Fastify's lifecycle (Request/Reply objects, two
// onRequest hooks, an async handler, onSend). Measured (BENCHMARKS.md): 0.87x before, 0.76-0.90x
// after, within this VM's noise; O's CPU per redirect fell from ~19-21 to ~15 us (bare: 12-14).
// Only the plain case takes it: every other request, and every request it has any doubt about,
// goes to Fastify, whose cloud route gives the same answer. Counting router outcomes belongs in
// fastRedirect's one `return true`, in the route, and in the redirect lane's answer
// (cloud-routing.ts), which decides with redirectHead too.
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
 * Puts the redirect fast path in front of `server`'s request handlers (Fastify's). It answers a
 * request only when the cloud route would answer it with a 307 to another replica, and writes
 * what that route writes after the app's hooks: X-Bevy-Node (the source's id, as buildApp's hook
 * sets it), the redirect headers, and content-length 0 except for HEAD, in Fastify's order and
 * case. It is only for apps whose hooks add nothing else to such a response. Returns a function
 * that stops it (for the app's close: Fastify then answers 503 to requests still arriving).
 */
export function redirectFirst (server: Server, opts: FastRedirectOptions): () => void {
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  let open = true
  const metrics = opts.metrics ?? NO_ROUTER_METRICS
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (open) {
      const start = performance.now()
      if (fastRedirect(req, res, opts.source, opts.maxUrlBytes)) {
        metrics.outcome('redirected')
        metrics.latency((performance.now() - start) / 1000)
        return
      }
    }
    for (const handler of handlers) handler.call(server, req, res)
  })
  return () => { open = false }
}

/**
 * Answers `req` with the 307 and returns true, or returns false and leaves it untouched. The
 * conditions mirror the cloud route's path to a redirect (routes/cloud-content.ts): see
 * redirectHead. A request on a connection another node pinned here is never redirected.
 */
function fastRedirect (req: IncomingMessage, res: ServerResponse, source: CloudSource, maxUrlBytes: number): boolean {
  const method = req.method
  const headers = req.headers
  if (method === undefined || req.url === undefined || pinOrigin(req.socket) !== undefined) return false
  const head = redirectHead(method, req.url, headers.host, headers[HOP_HEADER] !== undefined || headers[ROUTE_HEADER] === 'proxy', source, maxUrlBytes)
  if (head === null) return false
  res.writeHead(307, head)
  res.end()
  return true
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
