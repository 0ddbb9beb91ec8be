// Cloud content: /c/<cloud>/<path>, any method. The replica chooseReplica picks answers: this
// node serves its own synced copy; otherwise it redirects (307 keeps method and body) or, in proxy
// mode, forwards the request and streams the replica's answer back. 503 when no replica is up.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { CloudRoute, RouteOptions } from '../../node/bevy.js'
import type { RouteMode } from '../../node/config.js'
import type { RouteFeedback } from '../../node/route-feedback.js'
import { BevyError, ErrorCode, type Clock } from '../../protocol/index.js'
import { clientKey, type AuthFailureLimiter } from '../auth-limit.js'
import { lacksRootSlash, parseCloudUrl } from '../cloud-path.js'
import { serveDrivePath } from '../drive-response.js'
import { serveHostedWrite, type HostedWrites } from '../hosted-write.js'
import { isHostAddressed } from '../host-addressing.js'
import { forwardingHeaders, hopChain, HOP_HEADER, hopNodeHexes, MAX_HOPS, ROUTE_HEADER } from '../forwarding.js'
import { NO_ROUTER_METRICS, type RouterMetrics } from '../metrics.js'
import { redirectHeaders, REDIRECTING, type RemoteRoute } from '../redirect.js'
import { errorSchema } from '../schemas.js'
import type { ReplicaProxy, UpstreamResponse } from '../replica-proxy.js'
import type { ConcurrencyGate } from '../concurrency-gate.js'

/** Seconds a client should wait before retrying a cloud with no replica up. */
const RETRY_AFTER_S = 5
/** Seconds a client should wait when this node proxies all it may: requests in flight end fast. */
const OVERLOADED_RETRY_AFTER_S = 1
const READ_METHODS = new Set(['GET', 'HEAD'])
/** Methods whose request has no body to lose, so a failed attempt can go to the next replica. */
const RETRYABLE_METHODS = READ_METHODS

/** Decides where a cloud's requests are answered (the node, or a stand-in in tests). */
export interface CloudSource {
  routeCloud: (keyHex: string, opts?: RouteOptions) => CloudRoute
  readonly routing: RouteFeedback
  readonly clock: Clock
  readonly idTextOrNull: string | null
  /** Writes to hosted clouds; absent where the source has none (owner-held clouds only). */
  readonly hostedWrites?: HostedWrites | null
}

export interface CloudContentOptions {
  source: CloudSource
  proxy: ReplicaProxy
  /** Caps proxied requests in flight; none when absent. */
  gate?: ConcurrencyGate
  /** The node's default for requests that do not ask with X-Bevy-Route. */
  mode: RouteMode
  metrics?: RouterMetrics
  /** Counts failed write tokens and signatures per client address; none when absent. */
  writeAuthLimit?: AuthFailureLimiter
}

interface ForwardedRequest {
  cloudHex: string
  hops: string[]
  /** Path-addressed URL to ask the replica for. */
  rawUrl: string
  /** How to serve it here if a retry lands on this node. */
  local: { path: string, query: string, mount: string }
}

export function cloudContentRoutes (opts: CloudContentOptions) {
  const { source, proxy, gate } = opts
  const metrics = opts.metrics ?? NO_ROUTER_METRICS

  return async function (app: FastifyInstance): Promise<void> {
    // Bodies stay unread: a redirect leaves them to the client, a proxy streams them upstream.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))

    app.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url: '/c/*',
      exposeHeadRoute: false,
      schema: cloudContentSchema,
      handler: async (request, reply) => {
        const rawUrl = request.raw.url ?? request.url
        const parsed = parseCloudUrl(rawUrl)
        const { cloudHex, cloudText, path, query } = parsed
        const hostAddressed = isHostAddressed(request.raw)
        const mount = hostAddressed ? '' : '/c/' + cloudText
        if (!hostAddressed && lacksRootSlash(rawUrl, parsed)) {
          return reply.code(301).header('Location', mount + '/' + (query === '' ? '' : '?' + query)).send()
        }
        const hops = hopChain(request.headers[HOP_HEADER])
        // A write carrying Authorization is proxied, never redirected: fetch, browsers and curl drop
        // that header when they follow a redirect to another origin, so the replica would see none.
        const carriesCredential = !READ_METHODS.has(request.method) && request.headers.authorization !== undefined
        const proxied = hops.length > 0 || opts.mode === 'proxy' || request.headers[ROUTE_HEADER] === 'proxy' || carriesCredential
        const route = hops.length > 0
          ? source.routeCloud(cloudHex, { exclude: hopNodeHexes(hops), hopped: true })
          : source.routeCloud(cloudHex, proxied ? undefined : REDIRECTING)
        if (route.kind === 'local') {
          if (!READ_METHODS.has(request.method) && route.hosted === true) {
            // A node still starting or already stopping takes no writes: retry, not 405 (the cloud does take writes).
            if (source.hostedWrites == null) {
              reply.header('Retry-After', String(RETRY_AFTER_S))
              throw new BevyError(ErrorCode.NOT_READY, 'this node is starting or stopping and takes no writes now; retry shortly')
            }
            metrics.outcome('served')
            const limit = opts.writeAuthLimit === undefined ? {} : { limit: { limiter: opts.writeAuthLimit, address: clientKey(request) } }
            return serveHostedWrite(request, reply, source.hostedWrites, { cloudHex, path, ...limit }, (result) => metrics.hostedWrite(result))
          }
          if (!READ_METHODS.has(request.method)) {
            reply.header('Allow', 'GET, HEAD')
            throw new BevyError(ErrorCode.METHOD_NOT_ALLOWED, 'this cloud is read-only: its owner publishes it with `bevy push`')
          }
          metrics.outcome('served')
          return serveDrivePath(request, reply, { drive: route.drive, driveHex: cloudHex, path, query, mount })
        }
        if (route.kind === 'unavailable' || hops.length >= MAX_HOPS) {
          metrics.outcome('unavailable')
          return noReplica(reply)
        }
        if (!proxied) {
          // Most of these never get here: the redirect lane and redirectFirst (../redirect.ts) answer them before Fastify.
          const head = redirectHeaders(route, rawUrl, source.idTextOrNull ?? '')
          for (let i = 0; i < head.length; i += 2) reply.header(head[i]!, head[i + 1]!)
          metrics.outcome('redirected')
          return reply.code(307).send()
        }
        return forward(request, reply, route, { cloudHex, hops, rawUrl, local: { path, query, mount } })
      }
    })

    /** Proxies the request while holding one of the node's proxy slots; 503 OVERLOADED when none is free. */
    async function forward (request: FastifyRequest, reply: FastifyReply, first: RemoteRoute, req: ForwardedRequest) {
      const leave = gate === undefined ? () => {} : gate.tryEnter()
      if (leave === null) {
        metrics.outcome('unavailable')
        reply.header('Retry-After', String(OVERLOADED_RETRY_AFTER_S))
        throw new BevyError(ErrorCode.OVERLOADED, 'this node is proxying as much as it may; retry shortly')
      }
      try {
        return await forwardHeld(request, reply, first, req)
      } finally {
        leave()
      }
    }

    /**
     * Proxies the request to `first`; a GET or HEAD that gets no answer tries one more replica.
     * A replica that failed is avoided locally for suspectAfterMs, before its heartbeat says so.
     */
    async function forwardHeld (request: FastifyRequest, reply: FastifyReply, first: RemoteRoute, req: ForwardedRequest) {
      const self = source.idTextOrNull ?? ''
      const headers = forwardingHeaders(request.raw, req.hops, self)
      const tried = new Set(hopNodeHexes(req.hops))
      let target: RemoteRoute = first
      for (let attempt = 1; ; attempt++) {
        tried.add(target.nodeHex)
        const done = source.routing.begin(target.nodeHex)
        const result = await proxy.forward(request.raw, { url: target.url, path: req.rawUrl, headers })
        if (result.ok) {
          metrics.outcome('proxied')
          return streamBack(reply, result, target, done)
        }
        done()
        source.routing.fail(target.nodeHex, source.clock.now())
        request.log.warn({ replica: target.node, err: result.error?.message, timedOut: result.timedOut }, 'proxied request failed')
        const failure = result.timedOut
          ? new BevyError(ErrorCode.UPSTREAM_TIMEOUT, 'the replica did not answer in time')
          : new BevyError(ErrorCode.UPSTREAM_FAILED, 'the replica failed to answer')
        // One retry, only for requests without a body to lose, and not after a timeout (the
        // replica may still be working on it).
        if (result.timedOut || !RETRYABLE_METHODS.has(request.method) || attempt >= 2) throw failure
        const next = source.routeCloud(req.cloudHex, { exclude: tried })
        if (next.kind === 'local') {
          metrics.outcome('served')
          return serveDrivePath(request, reply, { ...req.local, drive: next.drive, driveHex: req.cloudHex })
        }
        if (next.kind === 'unavailable') throw failure
        target = next
      }
    }
  }
}

/** Writes the replica's answer as ours, with the headers that say who answered. */
async function streamBack (reply: FastifyReply, upstream: UpstreamResponse, replica: RemoteRoute, done: () => void): Promise<void> {
  reply.hijack()
  const res = reply.raw
  try {
    res.writeHead(upstream.statusCode, { ...upstream.headers, ...(reply.getHeaders() as OutgoingHttpHeaders), 'x-bevy-replica': replica.node })
    await pipeline(upstream.body, res)
  } catch {
    // The replica or the client went away mid-body: nothing more can be said on this response.
    res.destroy()
  } finally {
    done()
  }
}

const cloudContentSchema = {
  summary: 'A file of a cloud: served by this node, redirected (307) or proxied to the best live, synced replica',
  description: 'Also reachable as <cloud z32>.<any domain>/<path>. `X-Bevy-Route: proxy` asks for proxying instead of a redirect.',
  tags: ['clouds'],
  security: [],
  params: { type: 'object', properties: { '*': { type: 'string', description: '<cloud key>/<path inside the cloud>' } } },
  response: {
    // Keyed by media type: a file goes out as whatever it is, only a directory listing as JSON.
    // The bodiless answers are type 'null', so the document gives them no content.
    200: {
      description: 'The file (any media type); a directory gives its index.html, an HTML listing, or with Accept: application/json a JSON listing',
      content: {
        // No type: a JSON file is served as it is, whatever it holds.
        'application/json': { schema: { description: 'With Accept: application/json, a directory listing {path, version, entries, truncated}; else a JSON file as it is' } },
        '*/*': { schema: { description: 'The file', type: 'string', format: 'binary' } }
      }
    },
    206: { description: 'Part of the file, for a Range request', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
    301: { description: 'A cloud root without its trailing slash: see Location', type: 'null' },
    304: { description: 'Not modified since the ETag in If-None-Match', type: 'null' },
    307: { description: 'Answered by another replica: see Location (the method and body carry over)', type: 'null' },
    '4xx': { description: 'Unknown cloud (404 CLOUD_NOT_FOUND), missing file, bad path, a write to a read-only cloud (405), a bad write token or signature (401; 429 RATE_LIMITED with Retry-After after too many from one address) or an unsatisfiable range (416)', ...errorSchema },
    '5xx': { description: '502/504 when a proxied replica fails or times out; 503 with Retry-After when no replica is live', ...errorSchema }
  }
}

function noReplica (reply: FastifyReply): never {
  reply.header('Retry-After', String(RETRY_AFTER_S))
  throw new BevyError(ErrorCode.NO_REPLICA, 'no live, synced replica of this cloud right now')
}
