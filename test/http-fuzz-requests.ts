// Random HTTP requests for the fuzz test, from fast-check arbitraries (so one seed replays a run),
// and a raw client that sends them as written: node:http keeps the path byte for byte, where
// fetch would normalise it. Requests node:http itself refuses to send count as rejected.
import { request } from 'node:http'
import fc from 'fast-check'

export interface FuzzRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: Buffer | null
}

export type FuzzOutcome =
  | { kind: 'response', status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }
  /** node:http would not send it (a bad method token, path or header value). */
  | { kind: 'rejected', code: string }
  /** The connection failed or closed without a response. */
  | { kind: 'error', code: string }
  | { kind: 'timeout' }

/** What the generator needs to know about the node under test. */
export interface FuzzTargets {
  /** A seeded cloud, a registered cloud nobody seeds, and a cloud nobody registered (z-base-32). */
  clouds: string[]
  nodeId: string
  token: string
}

const JUNK_METHODS = ['get', 'FOO', 'PROPFIND', 'TRACE', 'M-SEARCH', 'BREW', 'SEARCH', 'PURGE', 'LINK', 'QUERY']
const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']

const pct = (bytes: Uint8Array) => Array.from(bytes, (b) => '%' + b.toString(16).padStart(2, '0')).join('')

/** One path segment: traversal, odd encodings, unicode raw and encoded, bytes, or a very long run. */
const segment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('..', '.', '', 'index.html', 'missing.txt', '%2e%2e', '%2E%2e%2f', '.%2e', '%252e%252e', '%252f', '%00', 'a%00b', '%2f', '%5c', '\\',
      '%', '%zz', '%e9', '%c3%28', '%ff%fe', 'é', '~', '*', '%20', ';', 'a;b=c', '$', '@', ':', '..;', '%u002e', '%C0%AE')
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 12 }).map(pct) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 16 * 1024 }).map((n) => 'x'.repeat(n)) }
)

const query = fc.oneof(
  fc.constantFrom('', '?', '?version=1', '?version=abc', '?version=-1', '?version=99999999999999999999', '?a=%00', '?a=%zz', '?&&&', '?q=é'),
  fc.string({ maxLength: 20 }).map((s) => '?' + s)
)

function prefixes (t: FuzzTargets): string[] {
  const [cloud = '', ...others] = t.clouds
  return [
    '/', '//', '/api/', '/api/health', '/api/status', '/api/clouds', '/api/clouds/', `/api/clouds/${cloud}`, '/api/clouds/not-a-key',
    `/api/nodes/${t.nodeId}/`, '/api/nodes/', '/api/invites', '/api/session', '/api/dashboard/stream', '/api/leave',
    '/c/', '/c', `/c/${cloud}`, `/c/${cloud}/`, ...others.map((c) => `/c/${c}/`), '/c/not-a-key/', `/c/${cloud.toUpperCase()}/`,
    '/.well-known/bevy/clouds/', `/.well-known/bevy/clouds/${cloud}`, '/.well-known/bevy/clouds/xyz', '/metrics', '/dashboard/', '/dashboard/app.js',
    '/documentation', '/openapi.json', '/../../etc/passwd', '/%2e%2e/'
  ]
}

function headerArbitrary (t: FuzzTargets) {
  const junk = fc.oneof(fc.constantFrom('', ' ', 'x'.repeat(4000), '\u00e9', '"', '*', 'null'), fc.string({ maxLength: 40 }))
  return fc.record({
    authorization: fc.oneof(fc.constantFrom('Bearer', 'Bearer ', 'bearer nope', 'Basic Zm9vOmJhcg==', `Bearer ${t.token}x`, 'Bearer ' + 'a'.repeat(6000)), junk.map((s) => 'Bearer ' + s), junk),
    accept: fc.oneof(fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html', 'application/json;q=0', 'image/*'), junk),
    range: fc.oneof(fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=999999-', 'bytes=5-1', 'bytes=a-b', 'bytes=0-1,2-3,4-5,6-7', 'bytes=' + '0-0,'.repeat(500), 'items=0-1', 'bytes=-0', 'bytes=0-'), junk),
    'if-none-match': fc.oneof(fc.constantFrom('*', '"abc"', 'W/"x"', '"', '""'), junk),
    'if-modified-since': fc.oneof(fc.constantFrom('Thu, 01 Jan 1970 00:00:00 GMT', 'yesterday'), junk),
    'content-type': fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/octet-stream', '/', ';'), junk),
    'x-bevy-route': fc.oneof(fc.constant('proxy'), junk),
    'x-bevy-hop': fc.oneof(fc.constantFrom(t.nodeId, `${t.nodeId},${t.nodeId}`, 'a,b,c,d,e', ','), junk),
    host: fc.oneof(fc.constantFrom(`${t.clouds[0] ?? ''}.example.org`, `${t.clouds[2] ?? ''}.localhost:1`, '[::1]', 'a'.repeat(300), 'localhost:99999', ''), junk),
    cookie: fc.oneof(fc.constantFrom('bevy_session=nope', 'bevy_session=', 'bevy_session=%zz; bevy_session=x', 'a=b'), junk),
    'x-forwarded-for': junk
  }, { requiredKeys: [] })
}

/** Headers that change how the request is framed or handled at all; rarer, or most requests die in the parser. */
const framing = fc.record({
  upgrade: rare(fc.constantFrom('websocket', 'h2c', 'junk')),
  expect: rare(fc.constantFrom('100-continue', 'junk')),
  'transfer-encoding': rare(fc.constantFrom('chunked', 'gzip', 'chunked, chunked', 'identity'))
})

function rare<T> (arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })
}

const body = fc.option(fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
  { weight: 3, arbitrary: fc.constantFrom('{', '{"key":', 'null', '[]', '""', '{"token":123}', '{"token":""}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"key":"x","replicas":1e400}', '"\\ud800"', '{"ttlMs":-1,"uses":1.5}').map((s) => Buffer.from(s)) },
  { weight: 3, arbitrary: fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.integer({ min: 70_000, max: 200_000 }).map((n) => Buffer.from(JSON.stringify({ key: 'k'.repeat(n) }))) }
), { freq: 2 })

/** Requests that could stop the node or move its data, sent with the real token. */
const DESTRUCTIVE = /leave|drain|^\/api\/clouds\//

export function requestArbitrary (t: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...STANDARD_METHODS) }, { weight: 1, arbitrary: fc.constantFrom(...JUNK_METHODS) }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/) }),
    prefix: fc.constantFrom(...prefixes(t)),
    segments: fc.array(segment, { maxLength: 4 }),
    query,
    headers: headerArbitrary(t),
    framing,
    realToken: fc.nat(9),
    body
  }).map(({ method, prefix, segments, query, headers, framing, realToken, body }) => {
    const path = prefix + segments.join('/') + query
    const out: Record<string, string> = { ...headers }
    for (const [name, value] of Object.entries(framing)) if (value !== undefined) out[name] = value
    // One request in ten carries the right token, so admin handlers see junk too, but never one
    // that would stop the node or remove its cloud midway.
    if (realToken === 0 && !DESTRUCTIVE.test(path) && method !== 'DELETE') out.authorization = `Bearer ${t.token}`
    if (out.upgrade !== undefined) out.connection = 'upgrade'
    return { method, path, headers: out, body }
  })
}

/** Bytes of the request line and headers, roughly as they go out. */
export function headBytes (r: FuzzRequest): number {
  let n = r.method.length + r.path.length + 12
  for (const [name, value] of Object.entries(r.headers)) n += name.length + Buffer.byteLength(value, 'latin1') + 4
  return n
}

const MAX_BODY_READ = 4 * 1024 * 1024

/** Sends `r` to `base` on a fresh connection and reads the whole answer. */
export function send (base: URL, r: FuzzRequest, timeoutMs: number): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    let settled = false
    const settle = (o: FuzzOutcome) => { if (!settled) { settled = true; resolve(o) } }
    let req: ReturnType<typeof request>
    try {
      // node:http frames a body on some methods (OPTIONS) with neither length nor chunks: say it.
      const headers = r.body !== null && r.headers['transfer-encoding'] === undefined ? { ...r.headers, 'content-length': String(r.body.length) } : r.headers
      req = request({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent: false, setHost: r.headers.host === undefined })
    } catch (err) {
      return settle({ kind: 'rejected', code: (err as NodeJS.ErrnoException).code ?? String(err) })
    }
    req.setTimeout(timeoutMs, () => { settle({ kind: 'timeout' }); req.destroy() })
    req.on('error', (err: NodeJS.ErrnoException) => settle({ kind: 'error', code: err.code ?? err.message }))
    req.on('upgrade', (res, socket) => { socket.destroy(); settle({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) }) })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let size = 0
      const done = () => settle({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      // An event stream never ends by itself: its head is all there is to check.
      if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) { done(); return void req.destroy() }
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= MAX_BODY_READ) chunks.push(chunk)
      })
      res.on('end', done)
      res.on('error', (err: NodeJS.ErrnoException) => settle({ kind: 'error', code: `mid-body ${err.code ?? err.message}` }))
    })
    try {
      req.end(r.body ?? undefined)
    } catch (err) {
      settle({ kind: 'rejected', code: (err as NodeJS.ErrnoException).code ?? String(err) })
      req.destroy()
    }
  })
}

/** One line naming a request, for failure messages. */
export function describe (r: FuzzRequest): string {
  const path = r.path.length > 200 ? `${r.path.slice(0, 200)}…(${r.path.length} chars)` : r.path
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v.length > 60 ? v.slice(0, 60) + '…' : v}`).join(' | ')
  return `${r.method} ${JSON.stringify(path)} [${headers}] body ${r.body === null ? 'none' : `${r.body.length} B`}`
}
