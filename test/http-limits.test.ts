// The HTTP server's limits on slow and oversized input, over real sockets: each one exceeded gets
// a clear JSON error (414, 431, 413, 408, 503 OVERLOADED) and its connection is closed, never
// left open. Also the Upgrade and parser-error answers the fuzz test found wrong.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { test } from 'node:test'
import Fastify from 'fastify'
import { WebSocket, WebSocketServer } from 'ws'
import type { CloudRoute } from '../node/bevy.js'
import { Bevy } from '../node/bevy.js'
import { defaultConfig, parseBootstrap } from '../node/config.js'
import { formatKey, hexKey } from '../protocol/index.js'
import { buildApp } from '../router/app.js'
import { registerCloudRouting } from '../router/cloud-routing.js'
import { pinConnections } from '../router/connection-pinning.js'
import { frameworkErrors, registerErrorHandling } from '../router/errors.js'
import { loopbackDht, onTeardown, standInSource, tempDir, type TestContext } from './helpers.js'

/** Everything the server sends for `chunks` (written in turn, `gapMs` apart) until it closes. */
function exchange (port: number, chunks: string[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    let closed = false
    // A server that never closes fails the test instead of hanging it.
    const guard = setTimeout(() => { socket.destroy(); reject(new Error(`the server kept the connection open; got ${JSON.stringify(received.slice(0, 300))}`)) }, 20_000)
    socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => { closed = true; clearTimeout(guard); resolve(received) })
    void (async () => {
      for (const chunk of chunks) {
        if (closed) return
        socket.write(chunk)
        if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs))
      }
    })()
  })
}

/** Status, lower-cased headers and body of the first response in `raw`. */
function parse (raw: string): { status: number, headers: Map<string, string>, body: string } {
  const end = raw.indexOf('\r\n\r\n')
  const [line = '', ...lines] = raw.slice(0, end).split('\r\n')
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(line.split(' ')[1]), headers, body: raw.slice(end + 4) }
}

function errorCode (body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code
}

test('limits on a node\'s HTTP server', async (t) => {
  const dht = await loopbackDht(t)
  const config = defaultConfig({
    storage: await tempDir(t),
    bootstrap: parseBootstrap(dht.bootstrap),
    heartbeatIntervalMs: 60_000,
    suspectAfterMs: 120_000,
    downAfterMs: 240_000,
    maxUrlBytes: 1024,
    maxHeaderBytes: 4096,
    headersTimeoutMs: 1000,
    requestTimeoutMs: 2000,
    keepAliveTimeoutMs: 1000,
    proxyTimeoutMs: 1000,
    idleSocketTimeoutMs: 3000
  })
  const bevy = new Bevy({ config, url: 'http://127.0.0.1:7420' })
  onTeardown(t, () => bevy.close())
  const app = buildApp({ bevy, adminToken: () => bevy.adminToken })
  onTeardown(t, () => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  await bevy.ready()
  const port = (app.server.address() as AddressInfo).port
  const cloud = formatKey(randomBytes(32))

  await t.test('a URL past maxUrlBytes gets 414 URI_TOO_LONG, on every path', async () => {
    for (const path of [`/api/health?${'q'.repeat(1100)}`, `/c/${cloud}/${'a'.repeat(1100)}`, `/${'x'.repeat(2000)}`]) {
      const res = parse(await exchange(port, [`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]))
      assert.equal(res.status, 414, path.slice(0, 40))
      assert.equal(errorCode(res.body), 'URI_TOO_LONG')
      assert.equal(res.headers.get('x-bevy-node'), bevy.idText)
    }
    const atLimit = parse(await exchange(port, [`GET /api/health?${'q'.repeat(1024 - '/api/health?'.length)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]))
    assert.equal(atLimit.status, 200, 'exactly maxUrlBytes is fine')
  })

  await t.test('a long key reaches its route and gets 400 BAD_KEY, not "no such route"', async () => {
    const res = parse(await exchange(port, [`GET /api/clouds/${'k'.repeat(300)} HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${bevy.adminToken}\r\nConnection: close\r\n\r\n`]))
    assert.equal(res.status, 400)
    assert.equal(errorCode(res.body), 'BAD_KEY')
  })

  await t.test('a URL Fastify cannot decode gets 400 BAD_PATH naming the node', async () => {
    const res = parse(await exchange(port, [`GET /c/${cloud}/%zz%c3%28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]))
    assert.equal(res.status, 400)
    assert.equal(errorCode(res.body), 'BAD_PATH')
    assert.equal(res.headers.get('x-bevy-node'), bevy.idText)
  })

  await t.test('a head past maxHeaderBytes gets 431 HEADERS_TOO_LARGE and the connection closes', async () => {
    const res = parse(await exchange(port, [`GET /api/health HTTP/1.1\r\nHost: x\r\nx-big: ${'b'.repeat(5000)}\r\n\r\n`]))
    assert.equal(res.status, 431)
    assert.equal(errorCode(res.body), 'HEADERS_TOO_LARGE')
    assert.equal(res.headers.get('x-bevy-node'), bevy.idText)
  })

  await t.test('a body past 64 KiB gets 413 BODY_TOO_LARGE', async () => {
    const body = JSON.stringify({ token: 'k'.repeat(70_000) })
    const res = parse(await exchange(port, [`POST /api/session HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nConnection: close\r\n\r\n${body}`]))
    assert.equal(res.status, 413)
    assert.equal(errorCode(res.body), 'BODY_TOO_LARGE')
  })

  await t.test('headers trickled in (slowloris) get 408 REQUEST_TIMEOUT and the connection closes', async () => {
    const trickle = ['GET /api/health HTTP/1.1\r\nHost: x\r\n', ...Array.from({ length: 100 }, (_, i) => `x-${i}: y\r\n`)]
    const res = parse(await exchange(port, trickle, 100))
    assert.equal(res.status, 408)
    assert.equal(errorCode(res.body), 'REQUEST_TIMEOUT')
  })

  await t.test('an idle keep-alive connection is closed by the server', async () => {
    const raw = await exchange(port, ['GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n'])
    assert.equal(parse(raw).status, 200, 'answered, then closed once idle')
  })

  await t.test('a parser error after an answer does not add a second answer', async () => {
    // The 401 goes out from the auth hook; the parser then rejects the body framing.
    const raw = await exchange(port, ['PATCH /api/status HTTP/1.1\r\nHost: x\r\nauthorization: Bearer nope\r\ntransfer-encoding: identity\r\n\r\n'])
    assert.equal(raw.split('HTTP/1.1 ').length - 1, 1, raw)
    assert.equal(parse(raw).status, 401)
  })

  await t.test('a malformed HEAD request gets an error head without a body', async () => {
    const raw = await exchange(port, ['HEAD /api/health HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked, chunked\r\n\r\n'])
    const res = parse(raw)
    assert.equal(res.status, 400)
    assert.equal(res.body, '')
  })

  await t.test('an Upgrade the node does not relay is served as a plain request (curl --http2 sends h2c)', async () => {
    const res = parse(await exchange(port, ['GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n']))
    assert.equal(res.status, 200)
    assert.equal(res.body, '{"ok":true}')
    const ws = parse(await exchange(port, ['GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n']))
    assert.equal(ws.status, 200, 'a WebSocket handshake for a non-cloud path, too')
  })

  await t.test('a refused upgrade answers HEAD without a body, and closes even if the client keeps its side open', async () => {
    // exchange() never ends its side: only the server's close resolves it.
    const head = parse(await exchange(port, [`HEAD /c/${cloud}/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`]))
    assert.equal(head.status, 404, 'an unknown cloud')
    assert.equal(head.body, '')
    const withBody = parse(await exchange(port, ['POST /api/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\ncontent-length: 5\r\n\r\nhello']))
    assert.equal(withBody.status, 400)
    assert.equal(errorCode(withBody.body), 'BAD_REQUEST')
  })

  await t.test('a HEAD on an event stream gets the head and ends, freeing the connection', async () => {
    const raw = await exchange(port, [
      `HEAD /api/dashboard/stream HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${bevy.adminToken}\r\n\r\n` +
      'GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    ])
    const [stream, health] = raw.split(/(?=HTTP\/1\.1 )/)
    assert.equal(parse(stream ?? '').status, 200)
    assert.match(parse(stream ?? '').headers.get('content-type') ?? '', /^text\/event-stream/)
    assert.equal(parse(health ?? '').body, '{"ok":true}', 'the next request on the connection is answered')
  })

  await t.test('nothing is left open: the server has no connections', async () => {
    const open = await new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => err === null ? resolve(n) : reject(err)))
    assert.equal(open, 0)
  })
})

/** A plain server that, like a node, accepts connections another node pinned to it. */
function acceptingPins (server: http.Server): http.Server {
  pinConnections(server, { choose: () => null, self: () => null, isMember: () => true, begin: () => () => {}, fail: () => {}, timeoutMs: 1000 })
  return server
}

async function listen (t: TestContext, server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTeardown(t, () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return (server.address() as AddressInfo).port
}

test('proxied requests past maxProxiedRequests get 503 OVERLOADED', async (t) => {
  // The replica holds every request until the test lets it answer.
  const held: http.ServerResponse[] = []
  let arrived = () => {}
  const replica = acceptingPins(http.createServer((_req, res) => { held.push(res); arrived() }))
  const replicaPort = await listen(t, replica)
  const key = randomBytes(32)
  const route: CloudRoute = { kind: 'remote', node: formatKey(randomBytes(32)), nodeHex: hexKey(randomBytes(32)), url: `http://127.0.0.1:${replicaPort}` }

  const app = Fastify({ frameworkErrors })
  registerErrorHandling(app)
  registerCloudRouting(app, { source: standInSource(() => route, [hexKey(key)], 'entry'), mode: 'proxy', proxyTimeoutMs: 10_000, isMember: () => true, maxProxiedRequests: 1 })
  onTeardown(t, () => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const url = (method: string) => `${method} /c/${formatKey(key)}/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`
  const waitArrival = () => new Promise<void>((resolve) => { arrived = resolve })

  for (const [first, kind] of [['GET', 'a pinned connection'], ['DELETE', 'a proxied request']] as const) {
    const arrival = waitArrival()
    const holding = exchange(port, [url(first)])
    await arrival
    const refused = parse(await exchange(port, [url('GET')]))
    assert.equal(refused.status, 503, `while ${kind} holds the only slot`)
    assert.equal(errorCode(refused.body), 'OVERLOADED')
    assert.equal(refused.headers.get('retry-after'), '1')
    held.shift()!.end('done')
    assert.equal(parse(await holding).status, 200)
  }
  // Both slots were given back: the next request goes through.
  const arrival = waitArrival()
  const again = exchange(port, [url('GET')])
  await arrival
  held.shift()!.end('done')
  assert.equal(parse(await again).status, 200)
})

test('an open relayed WebSocket does not hold up the app\'s close', { timeout: 20_000 }, async (t) => {
  const replica = http.createServer()
  const wss = new WebSocketServer({ server: replica })
  onTeardown(t, () => new Promise<void>((resolve) => wss.close(() => resolve())))
  const replicaPort = await listen(t, replica)
  const key = randomBytes(32)
  const route: CloudRoute = { kind: 'remote', node: formatKey(randomBytes(32)), nodeHex: hexKey(randomBytes(32)), url: `http://127.0.0.1:${replicaPort}` }
  const app = Fastify({ frameworkErrors })
  registerErrorHandling(app)
  registerCloudRouting(app, { source: standInSource(() => route, [hexKey(key)], 'entry'), mode: 'redirect', proxyTimeoutMs: 10_000, isMember: () => true })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const ws = new WebSocket(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/c/${formatKey(key)}/socket`)
  onTeardown(t, () => { ws.terminate() })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const closedByServer = new Promise((resolve) => ws.once('close', resolve))
  // Before the fix this waited for as long as the client kept the WebSocket open.
  await app.close()
  await closedByServer
})
