// Plain 307s answered on the connection itself, below Node's HTTP server: for a keep-alive
// connection whose requests are all plain redirects, this is the whole request path.
//
// Why: a node without a copy of a cloud answers most of its requests with a 307, and bench:router
// holds that against a bare Fastify app (target 0.9x). Even redirect.ts's fast path, in front of
// Fastify, pays for Node's HTTP machinery per request: an IncomingMessage and a ServerResponse,
// their streams, header validation, nextTicks. Here a request is a parsed head and one string
// written back, as in nginx. Only heads that are plainly fine take this lane: HTTP/1.1 GET or
// HEAD with one Host, without a body, without Connection other than keep-alive, within the head
// limit, with nothing but visible characters and CRLF line ends and header names that are tokens,
// that the cloud route would answer with a 307. On anything else the connection, with every byte
// not yet answered, goes to the HTTP server for good, and Node's parser has the last word.
import type { Socket } from 'node:net'
import { HOP_HEADER, ROUTE_HEADER } from './forwarding.js'

export interface RedirectLaneOptions {
  /**
   * The headers of the 307 for a GET or HEAD (name, value, ...), or null when the cloud route
   * would answer it otherwise. `forwardedOrProxied`: it has a hop header or X-Bevy-Route: proxy.
   */
  answer: (method: string, url: string, host: string | undefined, forwardedOrProxied: boolean) => string[] | null
  /** Counts one 307 written, with `startMs` (performance.now()) from when its head was read. */
  sent: (startMs: number) => void
  /** An idle connection is closed after this long (the HTTP server's keep-alive timeout). */
  keepAliveTimeoutMs: number
  /** Longer heads go to the HTTP server, which answers 431. */
  maxHeadBytes: number
}

export interface RedirectLane {
  /**
   * Takes the connection when `first` (its first bytes) starts with a plain redirect: answers
   * it, and every later one, and gives the connection to `toHttp` with the unanswered bytes once
   * anything else comes. Returns false, touching nothing, when `first` does not start that way.
   */
  take: (socket: Socket, first: Buffer, toHttp: (socket: Socket, unread: Buffer) => void) => boolean
  /** Closes every connection in the lane. */
  close: () => void
}

const END_OF_HEAD = Buffer.from('\r\n\r\n')
/**
 * A byte Node's parser refuses in a head: anything but visible ASCII, tab and obs-text, or a CR or
 * LF that is not part of a CRLF line end. One pattern, so a head is scanned once.
 */
const ODD_BYTE = /[^\t\r\n\x20-\x7e\x80-\xff]|\r(?!\n)|(?<!\r)\n/

export function redirectLane (opts: RedirectLaneOptions): RedirectLane {
  const held = new Set<Socket>()
  const keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}\r\n\r\n`
  const date = new HttpDate()

  /** The whole response to the head that starts at `from`, and where the head ends; null if it is not plain. */
  function respond (bytes: Buffer, from: number): { text: string, end: number } | null {
    const at = bytes.indexOf(END_OF_HEAD, from)
    if (at === -1 || at - from > opts.maxHeadBytes) return null
    const head = plainHead(bytes.toString('latin1', from, at))
    if (head === null) return null
    let headers: string[] | null
    try {
      headers = opts.answer(head.method, head.url, head.host, head.forwardedOrProxied)
    } catch {
      return null // never the node's end: the HTTP server gives this request its proper error
    }
    // The Location carries a replica's URL from the view, which routing only picks when it is
    // routable (visible characters only: node/route-signals.ts).
    if (headers === null) return null
    let text = 'HTTP/1.1 307 Temporary Redirect\r\n'
    for (let i = 0; i < headers.length; i += 2) text += headers[i]! + ': ' + headers[i + 1]! + '\r\n'
    return { text: text + 'Date: ' + date.now() + '\r\n' + keepAlive, end: at + END_OF_HEAD.length }
  }

  /** Answers the plain heads at the start of `bytes`; returns where the first other byte is. */
  function answerAll (socket: Socket, bytes: Buffer): number {
    const start = performance.now()
    let from = 0
    let out = ''
    let answered = 0
    for (let r = respond(bytes, 0); r !== null; r = from < bytes.length ? respond(bytes, from) : null) {
      out += r.text
      from = r.end
      answered++
    }
    if (answered === 0) return 0
    // A client that sends and does not read is read no further until it does, as Node's server does.
    if (!socket.write(out, 'latin1')) {
      socket.pause()
      socket.once('drain', () => socket.resume())
    }
    for (let i = 0; i < answered; i++) opts.sent(start)
    return from
  }

  return {
    take (socket, first, toHttp) {
      const answered = answerAll(socket, first)
      if (answered === 0) return false
      const leave = (unread: Buffer) => {
        held.delete(socket)
        socket.removeListener('data', onData)
        socket.removeListener('timeout', onIdle)
        socket.setTimeout(0)
        toHttp(socket, unread)
      }
      const onData = (bytes: Buffer) => {
        const at = answerAll(socket, bytes)
        if (at < bytes.length) leave(bytes.subarray(at))
      }
      const onIdle = () => socket.destroy()
      held.add(socket)
      socket.once('close', () => held.delete(socket))
      socket.on('error', () => {})
      socket.setTimeout(opts.keepAliveTimeoutMs, onIdle)
      if (answered < first.length) leave(first.subarray(answered))
      else socket.on('data', onData)
      return true
    },
    close () {
      for (const socket of held) socket.destroy()
      held.clear()
    }
  }
}

interface PlainHead { method: string, url: string, host: string, forwardedOrProxied: boolean }

const REQUEST_LINE = /^(GET|HEAD) (\/\S*) HTTP\/1\.1$/

/**
 * The parts of a request head (without its blank line) that a redirect depends on, or null when
 * the request is anything but plain: not an HTTP/1.1 GET or HEAD, a body, a wish to close or to
 * change protocols, a byte Node's parser would refuse, a header line it would, or no Host.
 */
function plainHead (text: string): PlainHead | null {
  if (ODD_BYTE.test(text)) return null
  let eol = text.indexOf('\r\n')
  const line = REQUEST_LINE.exec(eol === -1 ? text : text.slice(0, eol))
  if (line === null) return null
  let host: string | undefined
  let forwardedOrProxied = false
  while (eol !== -1) {
    const start = eol + 2
    eol = text.indexOf('\r\n', start)
    const end = eol === -1 ? text.length : eol
    const colon = text.indexOf(':', start)
    if (colon <= start || colon >= end) return null
    const name = text.slice(start, colon)
    if (NOT_TOKEN.test(name)) return null // Node refuses it
    if (name.length > LONGEST_NAME) continue // only the names below matter
    switch (name.toLowerCase()) {
      case 'host':
        if (host !== undefined) return null
        host = text.slice(colon + 1, end).trim()
        break
      case 'connection': case 'proxy-connection': // Node's parser reads both alike
        if (text.slice(colon + 1, end).trim().toLowerCase() !== 'keep-alive') return null
        break
      case 'content-length': case 'transfer-encoding': case 'upgrade': case 'expect':
        return null
      case HOP_HEADER:
        forwardedOrProxied = true
        break
      case ROUTE_HEADER:
        if (text.slice(colon + 1, end).trim() === 'proxy') forwardedOrProxied = true
        break
    }
  }
  if (host === undefined) return null // HTTP/1.1 requires it: Node answers 400
  return { method: line[1]!, url: line[2]!, host, forwardedOrProxied }
}

/** A byte a header name may not hold (RFC 9110 token characters), as Node's parser refuses it. */
const NOT_TOKEN = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/
/** The longest header name plainHead looks at (transfer-encoding). */
const LONGEST_NAME = 17

/** The Date header's value, formatted once per second as Node's server does. */
class HttpDate {
  private second = -1
  private text = ''

  now (): string {
    const ms = Date.now()
    const second = Math.floor(ms / 1000)
    if (second !== this.second) {
      this.second = second
      this.text = new Date(second * 1000).toUTCString()
    }
    return this.text
  }
}
