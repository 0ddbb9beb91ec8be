// WebSocket requests for a cloud. Fastify does not see upgrades and a redirect cannot carry one,
// so they are always proxied: the replica's 101 is relayed and the two sockets are piped together.
// Owner-held clouds serve no WebSocket themselves, so a request that lands on its own replica gets
// 404. Any other Upgrade (h2c from `curl --http2`, or a WebSocket for a non-cloud path) is served
// as the plain request it also is: a server may ignore Upgrade (RFC 9110 7.8).
import http, { type IncomingMessage, type Server } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { BevyError, ErrorCode } from '../protocol/index.js'
import { cloudOfHost, hostAddressedUrl, parseCloudUrl } from './cloud-path.js'
import type { ConcurrencyGate } from './concurrency-gate.js'
import { errorBody, statusOf } from './errors.js'
import { forwardingHeaders, hopChain, HOP_HEADER, hopNodeHexes, MAX_HOPS } from './forwarding.js'
import type { CloudSource } from './routes/cloud-content.js'
import { withoutHopHeaders } from './replica-proxy.js'

export interface UpgradeProxyOptions {
  source: CloudSource
  timeoutMs: number
  /** Every relay holds a slot for its lifetime. */
  gate: ConcurrencyGate
  maxUrlBytes: number
}

/** Handles every upgrade request `server` receives. Returns a function that detaches it. */
export function proxyUpgrades (server: Server, opts: UpgradeProxyOptions): () => void {
  const sockets = new Set<Duplex>()
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    try {
      if (!relayable(req)) return serveAsRequest(server, req, socket as Socket)
      relay(req, socket, head, opts)
    } catch (err) {
      refuse(socket, err, req, opts.source.idTextOrNull)
    }
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const socket of sockets) socket.destroy()
  }
}

/** The request URL in its path-addressed form (/c/<cloud>/… when the Host names the cloud). */
function pathAddressed (req: IncomingMessage): string {
  const hostCloud = cloudOfHost(req.headers.host)
  return hostCloud === null ? req.url ?? '/' : hostAddressedUrl(hostCloud, req.url ?? '/')
}

/** A WebSocket handshake for a cloud path; everything else is a plain request. */
function relayable (req: IncomingMessage): boolean {
  return /\bwebsocket\b/i.test(req.headers.upgrade ?? '') && pathAddressed(req).startsWith('/c/')
}

/**
 * Hands an upgrade request back to the HTTP handlers as an ordinary one. Node has already detached
 * the socket from its parser, so the request gets a response of its own and the connection closes
 * after it. Node parsed no body for it either: one that declares a body is refused.
 */
function serveAsRequest (server: Server, req: IncomingMessage, socket: Socket): void {
  const length = req.headers['content-length']
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    throw new BevyError(ErrorCode.BAD_REQUEST, 'an Upgrade request with a body is not supported')
  }
  req.push(null)
  const res = new http.ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket)
  res.on('finish', () => {
    res.detachSocket(socket)
    closeAfterWrites(socket)
  })
  server.emit('request', req, res)
}

function relay (req: IncomingMessage, socket: Duplex, head: Buffer, opts: UpgradeProxyOptions): void {
  if ((req.url?.length ?? 0) > opts.maxUrlBytes) throw new BevyError(ErrorCode.URI_TOO_LONG, `the URL is longer than ${opts.maxUrlBytes} bytes`)
  const rawUrl = pathAddressed(req)
  const { cloudHex } = parseCloudUrl(rawUrl)
  const hops = hopChain(req.headers[HOP_HEADER])
  const route = opts.source.routeCloud(cloudHex, { exclude: hopNodeHexes(hops), hopped: hops.length > 0 })
  if (route.kind === 'local') throw new BevyError(ErrorCode.NOT_FOUND, 'this cloud serves no WebSocket endpoint')
  if (route.kind === 'unavailable' || hops.length >= MAX_HOPS) throw new BevyError(ErrorCode.NO_REPLICA, 'no live, synced replica of this cloud right now')

  const leave = opts.gate.tryEnter()
  if (leave === null) throw new BevyError(ErrorCode.OVERLOADED, 'this node is proxying as much as it may; retry shortly')
  const target = new URL(route.url)
  const client = target.protocol === 'https:' ? https : http
  const self = opts.source.idTextOrNull ?? ''
  const inFlight = opts.source.routing.begin(route.nodeHex)
  let finished = false
  const done = () => {
    if (finished) return
    finished = true
    inFlight()
    leave()
  }
  const upstream = client.request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: rawUrl,
    timeout: opts.timeoutMs,
    headers: { ...req.headers, host: target.host, ...forwardingHeaders(req, hops, self) }
  })
  // A client that leaves gives its slot back at once, whatever the replica is still doing.
  let clientGone = false
  socket.once('close', () => { clientGone = true; done(); upstream.destroy() })
  const fail = (err: BevyError) => {
    done()
    if (clientGone) return // our own destroy above, not the replica's fault
    opts.source.routing.fail(route.nodeHex, opts.source.clock.now())
    refuse(socket, err, req, self)
  }
  upstream.on('timeout', () => { upstream.destroy(); fail(new BevyError(ErrorCode.UPSTREAM_TIMEOUT, 'the replica did not answer in time')) })
  upstream.on('error', () => fail(new BevyError(ErrorCode.UPSTREAM_FAILED, 'the replica failed to answer')))
  upstream.on('response', (res) => {
    // The replica declined the upgrade: relay its answer as it is.
    socket.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', { ...withoutHopHeaders(res.headers), 'x-bevy-node': self, 'x-bevy-replica': route.node, connection: 'close' }))
    res.pipe(socket)
    res.on('end', () => { done(); closeAfterWrites(socket) })
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

/** Answers with an error and closes; a HEAD request gets the head alone, as HTTP requires. */
function refuse (socket: Duplex, err: unknown, req: IncomingMessage, self: string | null): void {
  if (socket.destroyed) return
  const status = err instanceof BevyError ? statusOf(err.code) : 500
  const body = JSON.stringify(err instanceof BevyError ? errorBody(err.code, err.message) : errorBody(ErrorCode.INTERNAL, 'internal error'))
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }
  if (self !== null && self !== '') headers['x-bevy-node'] = self
  if (status === 503) headers['retry-after'] = 5
  socket.write(responseHead(status, http.STATUS_CODES[status] ?? '', headers) + (req.method === 'HEAD' ? '' : body))
  closeAfterWrites(socket)
}

/**
 * Closes a socket once what was written to it is sent. Not socket.end() alone: Node leaves an
 * upgraded socket paused and without its timeouts, so a client that never closes its side would
 * hold it open for good.
 */
function closeAfterWrites (socket: Duplex): void {
  (socket as Socket).destroySoon()
}

function responseHead (status: number, message: string, headers: http.OutgoingHttpHeaders): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`
  }
  return head + '\r\n'
}
