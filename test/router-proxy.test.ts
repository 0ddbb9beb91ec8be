// The router between a client and a cloud's replicas, over real sockets: redirect and proxy
// modes, hop headers, WebSocket relay, upstream failures (502, retry, 504) and host addressing.
// Replicas here are real cloud routes serving a real drive; only the choice of replica is fixed.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import http, { type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import Corestore from 'corestore'
import Fastify, { type FastifyInstance } from 'fastify'
import Hyperdrive from 'hyperdrive'
import { WebSocket, WebSocketServer } from 'ws'
import type { CloudRoute } from '../node/bevy.js'
import { formatKey, hexKey } from '../protocol/index.js'
import { registerCloudRouting } from '../router/cloud-routing.js'
import { pinConnections } from '../router/connection-pinning.js'
import { frameworkErrors, registerErrorHandling } from '../router/errors.js'
import { HOP_HEADER, MAX_HOPS } from '../router/forwarding.js'
import { addressByHost } from '../router/host-addressing.js'
import { onTeardown, rawConnection, standInSource, tempDir, type TestContext } from './helpers.js'

interface Reply { status: number, headers: IncomingHttpHeaders, body: Buffer }

/** One request with exactly these headers and body; the whole answer, bytes untouched. */
function send (url: string, opts: { method?: string, headers?: Record<string, string>, body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject).end(opts.body)
  })
}

async function listen (t: TestContext, app: FastifyInstance | http.Server): Promise<string> {
  if (app instanceof http.Server) {
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
    onTeardown(t, () => new Promise<void>((resolve) => { app.closeAllConnections(); app.close(() => resolve()) }))
    return `http://127.0.0.1:${(app.address() as AddressInfo).port}`
  }
  onTeardown(t, () => app.close())
  return await app.listen({ port: 0, host: '127.0.0.1' })
}

/** A plain server that, like a node, accepts connections another node pinned to it. */
function acceptingPins (server: http.Server): http.Server {
  pinConnections(server, { choose: () => null, self: () => null, isMember: () => true, begin: () => () => {}, fail: () => {}, timeoutMs: 1000 })
  return server
}

/** A node id as routes carry it. */
function nodeId (): { node: string, nodeHex: string } {
  const key = randomBytes(32)
  return { node: formatKey(key), nodeHex: hexKey(key) }
}

/** A Fastify app with the real cloud routing, as buildApp assembles it, over a stand-in node. */
function routingApp (route: (keyHex: string, exclude?: ReadonlySet<string>) => CloudRoute, known: string[], opts: { name: string, proxyTimeoutMs?: number }) {
  const app = Fastify({ frameworkErrors, rewriteUrl: addressByHost })
  registerErrorHandling(app)
  const source = standInSource(route, known, opts.name)
  app.addHook('onRequest', async (_request, reply) => { reply.header('x-bevy-node', opts.name) })
  registerCloudRouting(app, { source, mode: 'redirect', proxyTimeoutMs: opts.proxyTimeoutMs ?? 10_000, isMember: () => true })
  return { app, source }
}

test('routing cloud requests to replicas', { timeout: 120_000 }, async (t) => {
  const store = new Corestore(await tempDir(t))
  onTeardown(t, () => store.close())
  const drive = new Hyperdrive(store)
  await drive.ready()
  const big = randomBytes(2 * 1024 * 1024 + 3)
  await drive.put('/hello.txt', Buffer.from('hello from the replica'))
  await drive.put('/index.html', Buffer.from('<a href="docs/">docs</a>'))
  await drive.put('/docs/readme.md', Buffer.from('# docs'))
  await drive.put('/big.bin', big)
  const cloud = hexKey(drive.key)
  const cloudText = formatKey(drive.key)
  const echoCloud = hexKey(randomBytes(32))
  const echoText = formatKey(Buffer.from(echoCloud, 'hex'))

  // Replica A serves the drive; a second one, B, serves it too, for retries.
  const ids = { a: nodeId(), b: nodeId(), entry: nodeId() }
  const replicaA = routingApp(() => ({ kind: 'local', drive }), [cloud], { name: ids.a.node })
  let seenByA: IncomingHttpHeaders = {}
  replicaA.app.addHook('onRequest', async (request) => { seenByA = request.headers })
  const replicaB = routingApp(() => ({ kind: 'local', drive }), [cloud], { name: ids.b.node })
  const a = { ...ids.a, url: await listen(t, replicaA.app) }
  const b = { ...ids.b, url: await listen(t, replicaB.app) }

  // An upstream that echoes method and body, and WebSocket messages: the stand-in for an app.
  const echoServer = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
      const body = Buffer.concat(chunks)
      res.setHeader('x-echo-method', req.method ?? '')
      if (req.headers.authorization !== undefined) res.setHeader('x-echo-authorization', req.headers.authorization)
      res.setHeader('x-echo-sha', createHash('sha256').update(body).digest('hex'))
      res.end(body)
    })
  })
  const wss = new WebSocketServer({ server: echoServer })
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })))
  onTeardown(t, () => new Promise<void>((resolve) => wss.close(() => resolve())))
  const echo = { ...nodeId(), url: await listen(t, echoServer) }

  // Upstreams that fail: one drops every connection mid-request, one never answers. Like nodes,
  // they accept connections other nodes pin to them.
  const dropping = acceptingPins(http.createServer((req) => req.socket.destroy()))
  const drop = { ...nodeId(), url: await listen(t, dropping) }
  const silentServer = acceptingPins(http.createServer(() => {}))
  const silent = { ...nodeId(), url: await listen(t, silentServer) }
  // An upstream that sends a large answer in small writes, so the proxy reads it in many small chunks.
  const trickled = randomBytes(16 * 1024 * 1024)
  const trickleServer = acceptingPins(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': trickled.length })
    let at = 0
    const more = () => {
      if (res.destroyed) return
      if (at >= trickled.length) return void res.end()
      res.write(trickled.subarray(at, at += 4096))
      setImmediate(more)
    }
    more()
  }))
  const trickle = { ...nodeId(), url: await listen(t, trickleServer) }

  // The entry node holds no copy; `replicas` is what its (stand-in) chooser may pick, in order.
  let replicas = [a, b]
  const remote = (r: typeof a): CloudRoute => ({ kind: 'remote', ...r })
  const entry = routingApp((keyHex, exclude) => {
    if (keyHex === echoCloud) return remote(echo)
    const next = replicas.find((r) => exclude === undefined || !exclude.has(r.nodeHex))
    return next === undefined ? { kind: 'unavailable' } : remote(next)
  }, [cloud, echoCloud], { name: ids.entry.node, proxyTimeoutMs: 500 })
  const entryUrl = await listen(t, entry.app)
  const proxyHeader = { 'x-bevy-route': 'proxy' }

  await t.test('redirect: 307 to the replica, no-store, with the hop header, and following it returns the content', async () => {
    const res = await send(`${entryUrl}/c/${cloudText}/hello.txt?v=1`)
    assert.equal(res.status, 307)
    assert.equal(res.headers.location, `${a.url}/c/${cloudText}/hello.txt?v=1`)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers[HOP_HEADER], ids.entry.node)
    const followed = await fetch(`${entryUrl}/c/${cloudText}/hello.txt`)
    assert.equal(await followed.text(), 'hello from the replica')
  })

  await t.test('POST and PUT bodies survive the redirect', async () => {
    for (const method of ['POST', 'PUT']) {
      const body = randomBytes(100_000)
      // A Blob, since Node 20's fetch fails to resend a Buffer body on a redirect (detached ArrayBuffer).
      const res = await fetch(`${entryUrl}/c/${echoText}/upload`, { method, body: new Blob([body]) })
      assert.equal(res.status, 200)
      assert.equal(res.url, `${echo.url}/c/${echoText}/upload`, 'the client followed the 307')
      assert.equal(res.headers.get('x-echo-method'), method, '307 keeps the method')
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), body)
    }
  })

  await t.test('a write carrying Authorization is proxied, not redirected: a client following a 307 would drop the credential', async () => {
    const body = randomBytes(10_000)
    const res = await send(`${entryUrl}/c/${echoText}/upload`, { method: 'PUT', headers: { authorization: 'Bearer t0ken' }, body })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-bevy-replica'], echo.node, 'answered through the entry node')
    assert.equal(res.headers['x-echo-authorization'], 'Bearer t0ken', 'the replica got the credential')
    assert.deepEqual(res.body, body)
    const read = await send(`${entryUrl}/c/${echoText}/upload`, { headers: { authorization: 'Bearer t0ken' } })
    assert.equal(read.status, 307, 'a read with Authorization is still redirected')
  })

  await t.test('a write to a hosted cloud\'s replica that is starting or stopping gets 503 with Retry-After, not 405', async () => {
    // The stand-in source has no hostedWrites, as a node that is not open (yet, or any more).
    const starting = routingApp(() => ({ kind: 'local', drive, hosted: true }), [cloud], { name: nodeId().node })
    const url = await listen(t, starting.app)
    const res = await send(`${url}/c/${cloudText}/new.txt`, { method: 'PUT', headers: { authorization: 'Bearer t0ken' }, body: Buffer.from('x') })
    assert.equal(res.status, 503)
    assert.equal(JSON.parse(res.body.toString()).error.code, 'NOT_READY')
    assert.ok(res.headers['retry-after'] !== undefined)
    assert.equal((await send(`${url}/c/${cloudText}/hello.txt`)).status, 200, 'reads are still served')
  })

  await t.test('a write to a read-only cloud\'s own replica gets 405 with Allow', async () => {
    const res = await send(`${a.url}/c/${cloudText}/hello.txt`, { method: 'PUT', body: Buffer.from('x') })
    assert.equal(res.status, 405)
    assert.equal(res.headers.allow, 'GET, HEAD')
    assert.equal(JSON.parse(res.body.toString()).error.code, 'METHOD_NOT_ALLOWED')
  })

  await t.test('the hop header stops a second redirect: the request is proxied instead', async () => {
    const res = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: { [HOP_HEADER]: formatKey(randomBytes(32)) } })
    assert.equal(res.status, 200)
    assert.equal(res.body.toString(), 'hello from the replica')
    assert.equal(res.headers['x-bevy-replica'], a.node)
    const looped = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: { [HOP_HEADER]: Array.from({ length: MAX_HOPS }, () => formatKey(randomBytes(32))).join(',') } })
    assert.equal(looped.status, 503, 'a request that has been through MAX_HOPS nodes goes no further')
  })

  // Proxy mode has two paths: a client's new connection is pinned to the replica (L4 after the
  // first decision), and a request that already hopped is proxied one by one (fast-proxy).
  const paths: Array<[string, Record<string, string>]> = [
    ['pinned connection', proxyHeader],
    ['per-request proxy', { [HOP_HEADER]: formatKey(randomBytes(32)) }]
  ]

  await t.test('proxy mode answers byte for byte as the replica does: 200, 206, 304, 404 and HEAD', async () => {
    const etag = (await send(`${a.url}/c/${cloudText}/hello.txt`)).headers.etag!
    const cases: Array<{ path: string, method?: string, headers?: Record<string, string>, status: number }> = [
      { path: '/hello.txt', status: 200 },
      { path: '/big.bin', status: 200 },
      { path: '/big.bin', headers: { range: 'bytes=1000-299999' }, status: 206 },
      { path: '/hello.txt', headers: { 'if-none-match': etag }, status: 304 },
      { path: '/missing.txt', status: 404 },
      { path: '/big.bin', method: 'HEAD', status: 200 },
      { path: '/big.bin', headers: { range: 'bytes=99999999-' }, status: 416 }
    ]
    for (const [name, via] of paths) {
      for (const c of cases) {
        const direct = await send(`${a.url}/c/${cloudText}${c.path}`, c)
        const proxied = await send(`${entryUrl}/c/${cloudText}${c.path}`, { ...c, headers: { ...c.headers, ...via } })
        const what = `${name}: ${c.method ?? 'GET'} ${c.path} ${JSON.stringify(c.headers ?? {})}`
        assert.equal(direct.status, c.status, what)
        assert.equal(proxied.status, direct.status, what)
        assert.ok(proxied.body.equals(direct.body), `${what}: identical bytes`)
        for (const h of ['content-type', 'content-length', 'content-range', 'etag', 'accept-ranges']) {
          assert.equal(proxied.headers[h], direct.headers[h], `${what}: ${h}`)
        }
        assert.equal(proxied.headers['x-bevy-node'], ids.entry.node, what)
        assert.equal(proxied.headers['x-bevy-replica'], a.node, what)
      }
      assert.ok((await send(`${entryUrl}/c/${cloudText}/big.bin`, { headers: via })).body.equals(big), name)
    }
  })

  await t.test('a pinned connection carries many requests, each with the client\'s forwarding headers', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    onTeardown(t, () => agent.destroy())
    const sockets = new Set<unknown>()
    for (let i = 0; i < 5; i++) {
      seenByA = {}
      const res = await new Promise<Reply>((resolve, reject) => {
        const req = http.get(`${entryUrl}/c/${cloudText}/hello.txt?i=${i}`, { agent, headers: proxyHeader }, (r) => {
          const chunks: Buffer[] = []
          r.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }))
        })
        req.on('socket', (s) => sockets.add(s)).on('error', reject)
      })
      assert.equal(res.status, 200)
      assert.equal(res.body.toString(), 'hello from the replica')
      assert.equal(seenByA['x-forwarded-for'], '127.0.0.1')
      assert.equal(seenByA[HOP_HEADER], ids.entry.node)
    }
    assert.equal(sockets.size, 1, 'one client connection')
  })

  await t.test('a pinned connection holds a download for a client that stops reading, then delivers every byte', async () => {
    // The client reads nothing for a while, so the replica's answer, arriving in small pieces,
    // backs up in the proxy (past what the kernel buffers hold) and the replica's side is paused;
    // the next request on the same connection must still get its own answer.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    onTeardown(t, () => agent.destroy())
    const get = (path: string, stallMs: number) => new Promise<Reply>((resolve, reject) => {
      http.get(`${entryUrl}/c/${cloudText}${path}`, { agent, headers: proxyHeader }, (r) => {
        const chunks: Buffer[] = []
        r.pause()
        setTimeout(() => r.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) })).resume(), stallMs)
      }).on('error', reject)
    })
    replicas = [trickle]
    try {
      const stalled = await get('/big.bin', 500)
      assert.equal(stalled.status, 200)
      assert.equal(stalled.headers['x-bevy-node'], undefined, 'it went through a pinned connection, not the per-request proxy')
      assert.equal(stalled.body.length, trickled.length)
      assert.ok(stalled.body.equals(trickled), 'the same bytes, in order')
      const next = await get('/hello.txt', 0)
      assert.ok(next.body.equals(trickled), 'the next request on the connection gets its own whole answer')
    } finally {
      replicas = [a, b]
    }
  })

  await t.test('a proxied request carries X-Forwarded-For, -Host, -Proto and the hop chain', async () => {
    await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: { ...proxyHeader, host: 'files.example.org' } })
    assert.equal(seenByA['x-forwarded-for'], '127.0.0.1')
    assert.equal(seenByA['x-forwarded-host'], 'files.example.org')
    assert.equal(seenByA['x-forwarded-proto'], 'http')
    assert.equal(seenByA[HOP_HEADER], ids.entry.node)
  })

  await t.test('proxy mode streams request bodies up and response bodies back', async () => {
    const body = randomBytes(3 * 1024 * 1024)
    const res = await send(`${entryUrl}/c/${echoText}/upload`, { method: 'PUT', headers: proxyHeader, body })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-echo-sha'], createHash('sha256').update(body).digest('hex'))
    assert.ok(res.body.equals(body))
  })

  await t.test('a WebSocket through the proxy echoes', async () => {
    const ws = new WebSocket(`${entryUrl.replace('http', 'ws')}/c/${echoText}/socket`)
    onTeardown(t, () => ws.terminate())
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const answers: string[] = []
    const got = new Promise<void>((resolve) => ws.on('message', (data) => { answers.push(String(data)); if (answers.length === 2) resolve() }))
    ws.send('hello')
    ws.send('again')
    await got
    assert.deepEqual(answers, ['hello', 'again'])
    ws.close()
    // A replica that serves the cloud itself has no WebSocket endpoint: a clear 404, no hang.
    const refused = new WebSocket(`${a.url.replace('http', 'ws')}/c/${cloudText}/socket`)
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('error', () => resolve(-1)))
    assert.equal(status, 404)
  })

  await t.test('an upstream that dies mid-request: GET retries on the next replica, PUT gets 502', async () => {
    for (const [name, via] of paths) {
      replicas = [drop, a]
      const res = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: via })
      assert.equal(res.status, 200, name)
      assert.equal(res.headers['x-bevy-replica'], a.node, name)
      assert.notEqual(entry.source.routing.lastFailureMs(drop.nodeHex), null, 'the failed replica is now locally suspect')
      const put = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { method: 'PUT', headers: via, body: Buffer.from('x') })
      assert.equal(put.status, 502, `${name}: a request with a body is not replayed: ${put.body.toString()}`)
      assert.equal(JSON.parse(put.body.toString()).error.code, 'UPSTREAM_FAILED')
      replicas = [drop]
      const alone = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: via })
      assert.equal(alone.status, 502, name)
      assert.doesNotMatch(alone.body.toString(), /at .*\.js/, 'no stack trace')
    }
  })

  await t.test('a pinned connection whose replica died goes on: the GET is answered by the next replica, and so are a GET and a WebSocket after it', async () => {
    replicas = [drop, a]
    const conn = rawConnection(t, Number(new URL(entryUrl).port))
    // Pinned to `drop`, which hangs up: the unanswered GET goes to this node's HTTP server.
    conn.write(`GET /c/${cloudText}/hello.txt HTTP/1.1\r\nHost: x\r\nX-Bevy-Route: proxy\r\n\r\n`)
    const first = await conn.response()
    assert.match(first.head, /^HTTP\/1\.1 200 /)
    assert.match(first.head, new RegExp(`x-bevy-replica: ${a.node}`, 'i'))
    assert.equal(first.body.toString(), 'hello from the replica')
    // What the client sends next on that connection reaches the HTTP server too.
    conn.write(`GET /c/${cloudText}/docs/readme.md HTTP/1.1\r\nHost: x\r\nX-Bevy-Route: proxy\r\n\r\n`)
    const second = await conn.response()
    assert.match(second.head, /^HTTP\/1\.1 200 /)
    assert.equal(second.body.toString(), '# docs')
    // An upgrade hands the connection's bytes to a relay, which must get them as well.
    conn.write(`GET /c/${echoText}/socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    const upgraded = await conn.head()
    assert.match(upgraded, /^HTTP\/1\.1 101 /)
    const mask = randomBytes(4)
    const payload = Buffer.from('still here')
    conn.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((byte, i) => byte ^ mask[i % 4]!)]))
    const frame = await conn.bytes(2 + payload.length)
    assert.deepEqual([...frame.subarray(0, 2)], [0x81, payload.length], 'an unmasked text frame')
    assert.equal(frame.subarray(2).toString(), 'still here')
  })

  await t.test('an upstream that never answers gives 504', async () => {
    replicas = [silent]
    for (const [name, via] of paths) {
      const res = await send(`${entryUrl}/c/${cloudText}/hello.txt`, { headers: via })
      assert.equal(res.status, 504, name)
      assert.equal(JSON.parse(res.body.toString()).error.code, 'UPSTREAM_TIMEOUT')
    }
  })

  await t.test('no replica gives 503 with Retry-After; an unknown cloud gives 404 JSON', async () => {
    replicas = []
    const res = await send(`${entryUrl}/c/${cloudText}/hello.txt`)
    assert.equal(res.status, 503)
    assert.equal(res.headers['retry-after'], '5')
    const unknown = await send(`${entryUrl}/c/${formatKey(randomBytes(32))}/x`)
    assert.equal(unknown.status, 404)
    assert.deepEqual(JSON.parse(unknown.body.toString()).error.code, 'CLOUD_NOT_FOUND')
    replicas = [a, b]
  })

  await t.test('<cloud>.<domain> serves the same as /c/<cloud>/', async () => {
    const host = { host: `${cloudText}.bevy.localhost` }
    for (const path of ['/hello.txt', '/', '/docs/readme.md']) {
      const byHost = await send(`${a.url}${path}`, { headers: host })
      const byPath = await send(`${a.url}/c/${cloudText}${path}`)
      assert.equal(byHost.status, 200, path)
      assert.ok(byHost.body.equals(byPath.body), path)
    }
    const dir = await send(`${a.url}/docs`, { headers: host })
    assert.equal(dir.status, 301)
    assert.equal(dir.headers.location, '/docs/', 'the redirect stays on the cloud\'s own origin')
    const redirected = await send(`${entryUrl}/hello.txt?q=1`, { headers: { host: `${cloudText}.example.org:8080` } })
    assert.equal(redirected.headers.location, `${a.url}/c/${cloudText}/hello.txt?q=1`)
  })
})
