// The redirect fast path (router/redirect.ts) answers plain 307s before Fastify. Every request
// here goes to two apps over the same stand-in node, one with the fast path and one without, and
// must get byte-identical answers (status, header names, order and values but Date, body); the
// fast path must take exactly the plain redirects and leave everything else to Fastify.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { test } from 'node:test'
import Corestore from 'corestore'
import Fastify, { type FastifyInstance } from 'fastify'
import Hyperdrive from 'hyperdrive'
import type { CloudRoute, RouteOptions } from '../node/bevy.js'
import { formatKey, hexKey } from '../protocol/index.js'
import { registerCloudRouting } from '../router/cloud-routing.js'
import { pinConnections, pinOrigin } from '../router/connection-pinning.js'
import { frameworkErrors, registerErrorHandling } from '../router/errors.js'
import { HOP_HEADER } from '../router/forwarding.js'
import { addressByHost } from '../router/host-addressing.js'
import { onTeardown, rawConnection, standInSource, tempDir, type TestContext } from './helpers.js'

interface Answer { status: number, rawHeaders: string[], body: string }

/** Who answers: the fast path, Fastify, or the replica over a connection pinned to it (L4). */
type Via = 'fast path' | 'fastify' | 'pinned'

interface Case { name: string, method?: string, path: string, headers?: Record<string, string>, body?: string, via: Via }

function send (base: string, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The path as given: a URL string would be normalised first (%2e%2e segments resolved).
    const { hostname, port } = new URL(base)
    const req = http.request({ hostname, port, path: c.path, method: c.method ?? 'GET', headers: c.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d)).on('end', () => {
        // Date is the only header allowed to differ between two answers.
        const rawHeaders: string[] = []
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() !== 'date') rawHeaders.push(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
        }
        resolve({ status: res.statusCode ?? 0, rawHeaders, body: Buffer.concat(chunks).toString() })
      })
    })
    req.on('error', reject).end(c.body)
  })
}

function nodeId (): { node: string, nodeHex: string } {
  const key = randomBytes(32)
  return { node: formatKey(key), nodeHex: hexKey(key) }
}

async function listen (t: TestContext, app: FastifyInstance): Promise<string> {
  onTeardown(t, () => app.close())
  return await app.listen({ port: 0, host: '127.0.0.1' })
}

test('the redirect fast path answers exactly as the Fastify route does', { timeout: 60_000 }, async (t) => {
  const store = new Corestore(await tempDir(t))
  onTeardown(t, () => store.close())
  const drive = new Hyperdrive(store)
  await drive.ready()
  await drive.put('/hello.txt', Buffer.from('served here'))

  // The replica the entry sends clients to: it says what it was asked, and accepts pinned connections.
  let replicaRequests = 0
  const replicaServer = http.createServer((req, res) => {
    replicaRequests++
    res.setHeader('content-type', 'text/plain')
    res.end(`replica: ${req.method} ${req.url} hop=${String(req.headers[HOP_HEADER])} xff=${String(req.headers['x-forwarded-for'])} pinned by ${String(pinOrigin(req.socket)?.entry)}`)
  })
  pinConnections(replicaServer, { choose: () => null, self: () => null, isMember: () => true, begin: () => () => {}, fail: () => {}, timeoutMs: 1000 })
  await new Promise<void>((resolve) => replicaServer.listen(0, '127.0.0.1', resolve))
  onTeardown(t, () => new Promise<void>((resolve) => { replicaServer.closeAllConnections(); replicaServer.close(() => resolve()) }))
  const replica = { ...nodeId(), url: `http://127.0.0.1:${(replicaServer.address() as AddressInfo).port}` }

  const remote = hexKey(randomBytes(32))
  const slashed = hexKey(randomBytes(32))
  const unavailable = hexKey(randomBytes(32))
  const local = hexKey(drive.key)
  // A cloud this node holds but would send elsewhere, were the request not to be redirected.
  const held = hexKey(randomBytes(32))
  const text = (hex: string) => formatKey(Buffer.from(hex, 'hex'))
  const route = (keyHex: string, exclude?: ReadonlySet<string>, opts?: RouteOptions): CloudRoute => {
    if (exclude?.has(replica.nodeHex) === true) return { kind: 'unavailable' }
    if (keyHex === held) return opts?.redirect === true ? { kind: 'local', drive } : { kind: 'remote', ...replica }
    if (keyHex === remote) return { kind: 'remote', ...replica }
    if (keyHex === slashed) return { kind: 'remote', ...replica, url: replica.url + '/' }
    if (keyHex === local) return { kind: 'local', drive }
    return { kind: 'unavailable' }
  }
  const self = nodeId().node

  /** An app as buildApp assembles the routing: the X-Bevy-Node hook, then the cloud routing. */
  const entry = async (fastRedirects: boolean) => {
    const app = Fastify({ frameworkErrors, rewriteUrl: addressByHost })
    registerErrorHandling(app)
    const reachedFastify: string[] = []
    app.addHook('onRequest', (request, reply, done) => {
      reachedFastify.push(`${request.method} ${request.raw.url}`)
      reply.header('X-Bevy-Node', self)
      done()
    })
    const source = standInSource(route, [remote, slashed, unavailable, local, held], self)
    registerCloudRouting(app, { source, mode: 'redirect', proxyTimeoutMs: 5000, isMember: () => true, fastRedirects, keepAliveTimeoutMs: 72_000 })
    // Requests that reach Node's HTTP server at all (the redirect lane answers below it).
    const reachedHttp = { count: 0 }
    app.server.prependListener('request', () => { reachedHttp.count++ })
    app.server.keepAliveTimeout = 72_000 // as buildApp sets it (http-limits.ts)
    return { url: await listen(t, app), reachedFastify, reachedHttp }
  }
  const fast = await entry(true)
  const plain = await entry(false)

  const R = text(remote)
  const cases: Case[] = [
    { name: 'GET with a query', path: `/c/${R}/hello.txt?v=1&w=%20`, via: 'fast path' },
    { name: 'HEAD', method: 'HEAD', path: `/c/${R}/hello.txt`, via: 'fast path' },
    { name: 'encoded path', path: `/c/${R}/a%20b/c.txt`, via: 'fast path' },
    { name: 'replica URL with a trailing slash', path: `/c/${text(slashed)}/x`, via: 'fast path' },
    { name: 'cloud root with its slash', path: `/c/${R}/`, via: 'fast path' },
    { name: 'a long path', path: `/c/${R}/${'a'.repeat(3000)}`, via: 'fast path' },
    { name: 'X-Bevy-Route other than proxy', path: `/c/${R}/x`, headers: { 'x-bevy-route': 'redirect' }, via: 'fast path' },
    { name: 'host-addressed', path: '/hello.txt?q=1', headers: { host: `${R}.example.org:8080` }, via: 'fast path' },
    { name: 'host-addressed root', path: '/', headers: { host: `${R}.bevy.localhost` }, via: 'fast path' },
    { name: 'cloud root without its slash: 301', path: `/c/${R}`, via: 'fastify' },
    { name: 'cloud root without its slash, with a query: 301', path: `/c/${R}?a=1`, via: 'fastify' },
    { name: 'hop header: proxied', path: `/c/${R}/hello.txt`, headers: { [HOP_HEADER]: nodeId().node }, via: 'fastify' },
    { name: 'empty hop header', path: `/c/${R}/hello.txt`, headers: { [HOP_HEADER]: '' }, via: 'fastify' },
    { name: 'X-Bevy-Route: proxy (pinned)', path: `/c/${R}/hello.txt`, headers: { 'x-bevy-route': 'proxy' }, via: 'pinned' },
    { name: 'POST', method: 'POST', path: `/c/${R}/upload`, headers: { 'content-type': 'text/plain' }, body: 'data', via: 'fastify' },
    { name: 'DELETE', method: 'DELETE', path: `/c/${R}/x`, via: 'fastify' },
    { name: 'no replica: 503', path: `/c/${text(unavailable)}/x`, via: 'fastify' },
    { name: 'local copy: 200', path: `/c/${text(local)}/hello.txt`, via: 'fastify' },
    { name: 'HEAD of a local copy', method: 'HEAD', path: `/c/${text(local)}/hello.txt`, via: 'fastify' },
    { name: 'a copy held here, to be redirected: served', path: `/c/${text(held)}/hello.txt`, via: 'fastify' },
    { name: 'a copy held here, HEAD', method: 'HEAD', path: `/c/${text(held)}/hello.txt`, via: 'fastify' },
    { name: 'a copy held here, X-Bevy-Route: proxy (pinned)', path: `/c/${text(held)}/hello.txt`, headers: { 'x-bevy-route': 'proxy' }, via: 'pinned' },
    { name: 'a copy held here, hop header: proxied', path: `/c/${text(held)}/hello.txt`, headers: { [HOP_HEADER]: nodeId().node }, via: 'fastify' },
    { name: 'unknown cloud: 404', path: `/c/${formatKey(randomBytes(32))}/x`, via: 'fastify' },
    { name: 'bad key: 400', path: '/c/not-a-key/x', via: 'fastify' },
    { name: 'empty key', path: `/c//${R}/x`, via: 'fastify' },
    { name: 'dot segment: 400', path: `/c/${R}/a/%2e%2e/b`, via: 'fastify' },
    { name: 'bad percent-encoding: 400', path: `/c/${R}/%zz`, via: 'fastify' },
    { name: 'NUL: 400', path: `/c/${R}/a%00b`, via: 'fastify' },
    { name: 'over-long path: 400', path: `/c/${R}/${'a'.repeat(5000)}`, via: 'fastify' },
    { name: 'not a cloud path', path: '/api/health', via: 'fastify' },
    { name: 'upper-case C', path: `/C/${R}/x`, via: 'fastify' }
  ]
  for (const c of cases) {
    fast.reachedFastify.length = 0
    const before = replicaRequests
    const a = await send(fast.url, c)
    const viaReplica = replicaRequests > before
    const b = await send(plain.url, c)
    assert.deepEqual(a, b, `${c.name}: same answer with and without the fast path`)
    // Fastify's hooks run for every request it routes; a URL it cannot decode gets its 400 before them.
    const via: Via = fast.reachedFastify.length > 0 ? 'fastify' : viaReplica ? 'pinned' : a.status === 307 ? 'fast path' : 'fastify'
    assert.equal(via, c.via, `${c.name}: answered by ${c.via}`)
  }

  // What the plain redirect says, header by header (the Fastify route sent exactly this before).
  const location = `${replica.url}/c/${R}/hello.txt?v=1`
  const get = await send(fast.url, { name: 'GET', path: `/c/${R}/hello.txt?v=1`, via: 'fast path' })
  assert.equal(get.status, 307)
  assert.deepEqual(get.rawHeaders, [
    'x-bevy-node', self, 'location', location, 'cache-control', 'no-store', HOP_HEADER, self,
    'content-length', '0', 'Connection', 'close'
  ])
  assert.equal(get.body, '')
  const head = await send(fast.url, { name: 'HEAD', method: 'HEAD', path: `/c/${R}/hello.txt?v=1`, via: 'fast path' })
  assert.deepEqual(head.rawHeaders, ['x-bevy-node', self, 'location', location, 'cache-control', 'no-store', HOP_HEADER, self, 'Connection', 'close'])
  const byHost = await send(fast.url, { name: 'host', path: '/hello.txt?q=1', headers: { host: `${R}.example.org:8080` }, via: 'fast path' })
  assert.equal(byHost.rawHeaders[3], `${replica.url}/c/${R}/hello.txt?q=1`, 'a host-addressed request goes to the path-addressed URL')
  const proxied = await send(fast.url, { name: 'proxy', path: `/c/${R}/hello.txt`, headers: { 'x-bevy-route': 'proxy' }, via: 'fastify' })
  assert.equal(proxied.status, 200)
  assert.equal(proxied.body, `replica: GET /c/${R}/hello.txt hop=undefined xff=undefined pinned by ${self}`)
  const hopped = await send(fast.url, { name: 'hop', path: `/c/${R}/hello.txt`, headers: { [HOP_HEADER]: replica.node }, via: 'fastify' })
  assert.equal(hopped.status, 503, 'the only replica is in the hop chain')

  // A client follows a 307 without the hop header, so a replica cannot tell a redirected request
  // from a first one: it is asked to route as for a redirect, and serves whatever it holds.
  for (const base of [fast.url, plain.url]) {
    const served = await send(base, { name: 'held', path: `/c/${text(held)}/hello.txt`, via: 'fastify' })
    assert.equal(served.status, 200)
    assert.equal(served.body, 'served here')
  }

  await t.test('on a keep-alive connection, plain redirects are answered below the HTTP server, as Fastify answers them', async () => {
    const fastConn = rawConnection(t, Number(new URL(fast.url).port))
    const plainConn = rawConnection(t, Number(new URL(plain.url).port))
    const withoutDate = (head: string) => head.replace(/\r\nDate: [^\r]*/, '')
    /** Sends the same bytes on both connections; their answers must be the same but for Date. */
    const both = async (request: string, answers = 1): Promise<string[]> => {
      fastConn.write(request)
      plainConn.write(request)
      const heads: string[] = []
      for (let i = 0; i < answers; i++) {
        const [a, b] = [await fastConn.response(), await plainConn.response()]
        assert.equal(withoutDate(a.head), withoutDate(b.head), `same answer to ${JSON.stringify(request)}`)
        assert.deepEqual(a.body, b.body)
        heads.push(a.head)
      }
      return heads
    }
    const before = fast.reachedHttp.count
    const [get] = await both(`GET /c/${R}/hello.txt?v=1 HTTP/1.1\r\nHost: x\r\n\r\n`)
    assert.match(get!, /^HTTP\/1\.1 307 Temporary Redirect\r\n/)
    assert.match(get!, /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/)
    assert.ok(get!.endsWith('\r\nConnection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n'), get)
    await both(`HEAD /c/${R}/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\nUser-Agent: curl/8\r\n\r\n`)
    await both(`GET /hello.txt?q=1 HTTP/1.1\r\nHost: ${R}.example.org:8080\r\nAccept-Language: en-GB,en;q=0.9\r\n\r\n`)
    // Pipelined: two heads in one write, two answers in order.
    await both(`GET /c/${R}/a HTTP/1.1\r\nHost: x\r\n\r\nGET /c/${text(slashed)}/b HTTP/1.1\r\nHost: x\r\n\r\n`, 2)
    assert.equal(fast.reachedHttp.count, before, 'none of these reached the HTTP server')
    // Anything else hands the connection, unanswered bytes and all, to the HTTP server for good.
    const [moved] = await both(`GET /c/${R} HTTP/1.1\r\nHost: x\r\n\r\n`)
    assert.match(moved!, /^HTTP\/1\.1 301 /)
    assert.equal(fast.reachedHttp.count, before + 1)
    await both(`GET /c/${R}/again HTTP/1.1\r\nHost: x\r\n\r\n`)
    assert.equal(fast.reachedHttp.count, before + 2, 'the HTTP server keeps the connection')
  })

  await t.test('requests that are not plain never take the redirect lane', async () => {
    const odd: Array<[string, 'http' | 'refused' | 'pinned']> = [
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'http'],
      [`GET /c/${R}/x HTTP/1.0\r\nHost: x\r\n\r\n`, 'http'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, 'http'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`, 'http'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nX-Bevy-Route: proxy\r\n\r\n`, 'pinned'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n`, 'refused'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nBad(Name): 1\r\n\r\n`, 'refused'],
      [`GET /c/${R}/x HTTP/1.1\r\nX-Y: 1\r\n\r\n`, 'refused'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n`, 'http'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\r\nX-\u00e9: 1\r\n\r\n`, 'refused'],
      [`GET /c/${R}/x\x01y HTTP/1.1\r\nHost: x\r\n\r\n`, 'refused'],
      [`GET /c/${R}/x HTTP/1.1\r\nHost: x\nX-Y: 1\r\n\r\n`, 'refused']
    ]
    for (const [request, expected] of odd) {
      const before = fast.reachedHttp.count
      const conn = rawConnection(t, Number(new URL(fast.url).port))
      conn.write(request)
      const answer = await conn.head()
      const took = fast.reachedHttp.count === before + 1 ? 'http' : answer.startsWith('HTTP/1.1 400 ') ? 'refused' : answer.startsWith('HTTP/1.1 200 ') ? 'pinned' : answer
      assert.equal(took, expected, JSON.stringify(request))
    }
  })

  await t.test('a connection another node pinned here is never redirected', async () => {
    const port = Number(new URL(fast.url).port)
    const peer = nodeId().node
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`BEVY-PIN/1 ${peer} 10.0.0.7 http\r\nGET /c/${R}/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      })
      const chunks: Buffer[] = []
      socket.on('data', (d: Buffer) => chunks.push(d)).on('end', () => resolve(Buffer.concat(chunks).toString())).on('error', reject)
    })
    assert.match(answer, /^HTTP\/1\.1 200 /)
    assert.ok(answer.endsWith(`replica: GET /c/${R}/hello.txt hop=${peer},${self} xff=10.0.0.7, 127.0.0.1 pinned by undefined`), answer)
  })
})
