// WebSocket (and any HTTP Upgrade) requests for a cloud. Fastify does not see upgrades and a
// redirect cannot carry one, so they are always proxied: the replica's 101 is relayed and the two
// sockets are piped together. Owner-held clouds serve no WebSocket themselves, so a request that
// lands on its own replica gets 404.
import http, { type IncomingMessage, type Server } from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { BevyError, ErrorCode } from '../protocol/index.js'
import { cloudOfHost, hostAddressedUrl, parseCloudUrl } from './cloud-path.js'
import { errorBody, statusOf } from './errors.js'
import { forwardingHeaders, hopChain, HOP_HEADER, hopNodeHexes, MAX_HOPS } from './forwarding.js'
import type { CloudSource } from './routes/cloud-content.js'
import { withoutHopHeaders } from './replica-proxy.js'

export interface UpgradeProxyOptions {
  source: CloudSource
  timeoutMs: number
}

/** Handles every upgrade request `server` receives. Returns a function that detaches it. */
export function proxyUpgrades (server: Server, opts: UpgradeProxyOptions): () => void {
  const sockets = new Set<Duplex>()
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    try {
      relay(req, socket, head, opts)
    } catch (err) {
      refuse(socket, err)
    }
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const socket of sockets) socket.destroy()
  }
}

function relay (req: IncomingMessage, socket: Duplex, head: Buffer, opts: UpgradeProxyOptions): void {
  const hostCloud = cloudOfHost(req.headers.host)
  const rawUrl = hostCloud === null ? req.url ?? '/' : hostAddressedUrl(hostCloud, req.url ?? '/')
  if (!rawUrl.startsWith('/c/')) throw new BevyError(ErrorCode.NOT_FOUND, 'WebSocket requests are proxied for cloud paths only')
  const { cloudHex } = parseCloudUrl(rawUrl)
  const hops = hopChain(req.headers[HOP_HEADER])
  const route = opts.source.routeCloud(cloudHex, { exclude: hopNodeHexes(hops), hopped: hops.length > 0 })
  if (route.kind === 'local') throw new BevyError(ErrorCode.NOT_FOUND, 'this cloud serves no WebSocket endpoint')
  if (route.kind === 'unavailable' || hops.length >= MAX_HOPS) throw new BevyError(ErrorCode.NO_REPLICA, 'no live, synced replica of this cloud right now')

  const target = new URL(route.url)
  const client = target.protocol === 'https:' ? https : http
  const self = opts.source.idTextOrNull ?? ''
  const done = opts.source.routing.begin(route.nodeHex)
  const upstream = client.request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: rawUrl,
    timeout: opts.timeoutMs,
    headers: { ...req.headers, host: target.host, ...forwardingHeaders(req, hops, self) }
  })
  const fail = (err: BevyError) => {
    done()
    opts.source.routing.fail(route.nodeHex, opts.source.clock.now())
    refuse(socket, err)
  }
  upstream.on('timeout', () => { upstream.destroy(); fail(new BevyError(ErrorCode.UPSTREAM_TIMEOUT, 'the replica did not answer in time')) })
  upstream.on('error', () => fail(new BevyError(ErrorCode.UPSTREAM_FAILED, 'the replica failed to answer')))
  upstream.on('response', (res) => {
    // The replica declined the upgrade: relay its answer as it is.
    socket.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', { ...withoutHopHeaders(res.headers), 'x-bevy-node': self, 'x-bevy-replica': route.node, connection: 'close' }))
    res.pipe(socket)
    res.on('end', done)
  })
  upstream.on('upgrade', (res, upstreamSocket, upstreamHead) => {
    upstream.setTimeout(0)
    upstreamSocket.setTimeout(0)
    socket.write(responseHead(101, res.statusMessage ?? 'Switching Protocols', { ...res.headers, 'x-bevy-node': self, 'x-bevy-replica': route.node }))
    if (upstreamHead.length > 0) socket.write(upstreamHead)
    if (head.length > 0) upstreamSocket.write(head)
    upstreamSocket.on('error', () => socket.destroy())
    upstreamSocket.on('close', () => { socket.destroy(); done() })
    socket.on('close', () => upstreamSocket.destroy())
    upstreamSocket.pipe(socket).pipe(upstreamSocket)
  })
  upstream.end()
}

function refuse (socket: Duplex, err: unknown): void {
  if (socket.destroyed) return
  const status = err instanceof BevyError ? statusOf(err.code) : 500
  const body = JSON.stringify(err instanceof BevyError ? errorBody(err.code, err.message) : errorBody(ErrorCode.INTERNAL, 'internal error'))
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }
  if (status === 503) headers['retry-after'] = 5
  socket.end(responseHead(status, http.STATUS_CODES[status] ?? '', headers) + body)
}

function responseHead (status: number, message: string, headers: http.OutgoingHttpHeaders): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`
  }
  return head + '\r\n'
}
