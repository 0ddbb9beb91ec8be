// Proxy mode's fast path: one L7 decision per connection, then L4. When the first request on a
// client connection is a proxied GET or HEAD for a cloud, the connection is pinned to the chosen
// replica and its bytes are piped straight through, so later requests on it cost the proxy no
// HTTP parsing at all (a Node proxy handling request by request runs at ~0.3x nginx; a pipe does not).
//
// A one-line preamble tells the replica who pinned the connection and for which client, so it
// adds the X-Forwarded-* and hop headers itself and never redirects those requests. Requests on a
// pinned connection for another cloud still work: the replica is a full node and routes them.
//
// Failures keep proxy-mode semantics. If the replica cannot be reached, or dies while a GET or
// HEAD waits for its answer, the replica is marked failed and the unanswered request goes to the
// HTTP server on this node, which routes it to another replica. Any other unanswered request
// gets 502; silence past the proxy timeout gets 504.
import { connect, type Server, type Socket } from 'node:net'
import type { RedirectLane } from './redirect-lane.js'
import { parseRequestHead, type RequestHead } from './request-head.js'

/** Where a connection is pinned: a replica's base URL and node id. */
export interface PinTarget { url: string, nodeHex: string }

/** Who pinned a connection that arrived here, from its preamble. */
export interface PinOrigin { entry: string, client: string, proto: string }

export interface PinningOptions {
  /** The replica to pin a connection to, judging by its first request, or null to serve it at L7. */
  choose: (head: RequestHead, socket: Socket) => PinTarget | null
  /** This node's id (z-base-32), sent in preambles. */
  self: () => string | null
  /** Whether a preamble's sender is a member of the bevy; others are refused. */
  isMember: (nodeId: string) => boolean
  /** Counts a pinned connection as in flight to its replica until the returned function is called. */
  begin: (nodeHex: string) => () => void
  /** Records that a replica failed, so the router avoids it for a while. */
  fail: (nodeHex: string) => void
  timeoutMs: number
  /** Takes connections whose first request is a plain redirect, before any pinning (redirect-lane.ts). */
  lane?: RedirectLane
}

const PREAMBLE = 'BEVY-PIN/1 '
const PREAMBLE_LINE = /^BEVY-PIN\/1 ([ybndrfg8ejkmcpqxot1uwisza345h769]{52}) (\S{1,64}) (https?)$/
/** Client bytes kept for a replay while they wait for an answer; a larger request is not replayed. */
const MAX_REPLAY_BYTES = 64 * 1024
const REPLAYABLE = /^(GET|HEAD) /
/** A new connection that sends nothing for this long is closed. */
const FIRST_BYTES_TIMEOUT_MS = 30_000
/** Read buffer per pinned connection for the replica's answers; a bigger answer takes more reads. */
const PINNED_READ_BYTES = 16 * 1024
/** Timeout checks per proxy timeout: a silent replica gets its 504 within 1 + 1/4 of the timeout. */
const SWEEPS_PER_TIMEOUT = 4

const pinnedFrom = new WeakMap<Socket, PinOrigin>()

/** The preamble of a connection another node pinned to this one, or undefined. */
export function pinOrigin (socket: Socket): PinOrigin | undefined {
  return pinnedFrom.get(socket)
}

/**
 * Puts connection pinning (and the redirect lane, if given) in front of `server`'s HTTP parser.
 * Returns a function that destroys every pinned or lane connection (the HTTP server does not
 * know them, so its close would not).
 */
export function pinConnections (server: Server, opts: PinningOptions): () => void {
  const http = server.listeners('connection') as Array<(socket: Socket) => void>
  server.removeAllListeners('connection')
  /** Pinned connections, each with its timeout check. */
  const pinned = new Map<Socket, () => void>()
  const sweeps = new Sweeps(opts.timeoutMs, () => { for (const sweep of pinned.values()) sweep() })

  /** Gives the socket to the HTTP server with `unread` put back in front of whatever comes next. */
  const toHttp = (socket: Socket, unread: Buffer) => {
    socket.pause()
    if (unread.length > 0) socket.unshift(unread)
    for (const listener of http) listener.call(server, socket)
    process.nextTick(() => socket.resume())
  }

  server.on('connection', (socket: Socket) => {
    // The HTTP server's own header timeouts start only once it has the socket.
    const silent = () => socket.destroy()
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, silent)
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0)
      socket.removeListener('timeout', silent)
      if (chunk.subarray(0, PREAMBLE.length).toString('latin1') === PREAMBLE) return acceptPinned(socket, chunk)
      if (opts.lane?.take(socket, chunk, toHttp) === true) return
      const head = parseRequestHead(chunk)
      const target = head === null ? null : opts.choose(head, socket)
      if (target === null) return toHttp(socket, chunk)
      pin(socket, chunk, target)
    })
  })

  function acceptPinned (socket: Socket, chunk: Buffer): void {
    const eol = chunk.indexOf('\r\n')
    const line = eol === -1 ? null : PREAMBLE_LINE.exec(chunk.toString('latin1', 0, eol))
    if (line === null || !opts.isMember(line[1]!)) return void socket.destroy()
    pinnedFrom.set(socket, { entry: line[1]!, client: line[2]!, proto: line[3]! })
    toHttp(socket, chunk.subarray(eol + 2))
  }

  function pin (socket: Socket, first: Buffer, target: PinTarget): void {
    const url = new URL(target.url)
    // The replica's answers are read into a buffer of this connection's own (`onread`) instead of a
    // fresh Buffer per read through the stream machinery: most answers are one read and one write.
    // A write the kernel did not take at once keeps pointing into that buffer, so the next read
    // gets a new one.
    let readBuffer = Buffer.allocUnsafe(PINNED_READ_BYTES)
    let lent = false
    const nextReadBuffer = () => {
      if (lent) {
        readBuffer = Buffer.allocUnsafe(PINNED_READ_BYTES)
        lent = false
      }
      return readBuffer
    }
    const fromReplica = (bytes: number, buffer: Buffer) => {
      // Any answer byte means the requests sent so far are being answered: nothing to replay.
      unanswered = []
      unansweredBytes = 0
      const flowing = socket.write(buffer.subarray(0, bytes))
      if (socket.writableLength > 0) lent = true
      return flowing // false pauses the replica's side until the client drains
    }
    const upstream = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      noDelay: true,
      onread: { buffer: nextReadBuffer, callback: fromReplica }
    })
    socket.setNoDelay(true)
    const done = opts.begin(target.nodeHex)
    let unanswered: Buffer[] = [first]
    let unansweredBytes = first.length
    let connected = false
    let released = false
    let lastMoved = sweeps.count

    const release = () => {
      if (released) return false
      released = true
      done()
      pinned.delete(socket)
      if (pinned.size === 0) sweeps.stop() // an idle node keeps no timer
      socket.removeListener('data', fromClient)
      socket.removeListener('close', onClientClose)
      upstream.on('error', () => {})
      upstream.destroy()
      return true
    }
    const fromClient = (data: Buffer) => {
      lastMoved = sweeps.count
      unansweredBytes += data.length
      // Past the replay limit the bytes are only counted: a long upload is never held in memory.
      if (unansweredBytes <= MAX_REPLAY_BYTES) unanswered.push(data)
      else unanswered = []
      if (connected && !upstream.write(data)) socket.pause()
    }
    const onClientClose = () => { if (release()) socket.destroy() }
    /** Checked at every sweep: a request unanswered with nothing moving either way for the proxy timeout gets 504. */
    const sweep = () => {
      if (unansweredBytes === 0 || sweeps.count - lastMoved <= sweeps.perTimeout || !release()) return
      opts.fail(target.nodeHex)
      socket.end(errorResponse(504, 'UPSTREAM_TIMEOUT', 'the replica did not answer in time', opts.self()))
    }
    /** The replica is gone: replay an unanswered GET/HEAD here, or say 502, or just close. */
    const lost = () => {
      if (!release()) return
      if (unansweredBytes === 0) return void socket.end()
      opts.fail(target.nodeHex)
      const pending = Buffer.concat(unanswered)
      if (unansweredBytes <= MAX_REPLAY_BYTES && REPLAYABLE.test(pending.toString('latin1', 0, 5))) return toHttp(socket, pending)
      socket.end(errorResponse(502, 'UPSTREAM_FAILED', 'the replica failed to answer', opts.self()))
    }

    pinned.set(socket, sweep)
    sweeps.start()
    socket.on('data', fromClient)
    socket.on('close', onClientClose)
    socket.on('error', () => {})
    socket.on('drain', () => upstream.resume())
    upstream.on('drain', () => { lastMoved = sweeps.count; socket.resume() })
    upstream.on('error', lost)
    upstream.on('close', lost)
    upstream.on('connect', () => {
      connected = true
      const self = opts.self() ?? ''
      upstream.write(`${PREAMBLE}${self} ${socket.remoteAddress ?? '-'} http\r\n`)
      for (const data of unanswered) upstream.write(data)
    })
  }

  return () => {
    opts.lane?.close()
    sweeps.stop()
    for (const socket of pinned.keys()) socket.destroy()
    pinned.clear()
  }
}

/**
 * One timer for every pinned connection's timeout, instead of a socket timer each: refreshing a
 * socket's timer on every read and write reads the clock each time, on the proxy's hottest path.
 * Connections note the sweep count when bytes move; a count `perTimeout` sweeps old is a timeout.
 */
class Sweeps {
  count = 0
  readonly perTimeout = SWEEPS_PER_TIMEOUT
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly timeoutMs: number, private readonly onSweep: () => void) {}

  start (): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => { this.count++; this.onSweep() }, Math.max(1, Math.ceil(this.timeoutMs / SWEEPS_PER_TIMEOUT)))
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}

function errorResponse (status: 502 | 504, code: string, message: string, self: string | null): string {
  const body = JSON.stringify({ error: { code, message } })
  const reason = status === 504 ? 'Gateway Timeout' : 'Bad Gateway'
  const node = self === null ? '' : `x-bevy-node: ${self}\r\n`
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${node}connection: close\r\n\r\n${body}`
}
