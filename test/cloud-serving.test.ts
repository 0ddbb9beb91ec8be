// HTTP conformance of cloud serving: GET/HEAD, Range (206/416), ETag and 304, Content-Type,
// index.html, listings, point-in-time versions, and refusal of bad paths. Runs the real route
// and the real drive code over a local drive; only the choice of replica is fixed to "here".
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { test } from 'node:test'
import Corestore from 'corestore'
import Fastify from 'fastify'
import Hyperdrive from 'hyperdrive'
import { formatKey, hexKey } from '../protocol/index.js'
import { frameworkErrors, registerErrorHandling } from '../router/errors.js'
import { ReplicaProxy } from '../router/replica-proxy.js'
import { cloudContentRoutes } from '../router/routes/cloud-content.js'
import { onTeardown, standInSource, tempDir } from './helpers.js'

/** A GET with the path sent byte for byte as given (fetch would normalise it). */
function rawGet (base: URL, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject).end()
  })
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

test('serving a cloud over HTTP', async (t) => {
  const store = new Corestore(await tempDir(t))
  onTeardown(t, () => store.close())
  const drive = new Hyperdrive(store)
  await drive.ready()
  const big = randomBytes(3 * 1024 * 1024 + 17)
  await drive.put('/hello.txt', Buffer.from('hello, version one'))
  const v1 = drive.version
  await drive.put('/hello.txt', Buffer.from('hello, version two!'))
  await drive.put('/index.html', Buffer.from('<h1>home</h1>'))
  await drive.put('/img/pic.png', randomBytes(2048))
  await drive.put('/docs/readme.md', Buffer.from('# docs'))
  await drive.put('/docs/deep/note.txt', Buffer.from('deep'))
  await drive.put('/big.bin', big)
  await drive.put('/empty.txt', Buffer.alloc(0))

  const app = Fastify({ frameworkErrors })
  registerErrorHandling(app)
  const proxy = new ReplicaProxy({ timeoutMs: 5000 })
  const source = standInSource(() => ({ kind: 'local', drive }), [hexKey(drive.key)])
  app.register(cloudContentRoutes({ source, proxy, mode: 'redirect' }))
  onTeardown(t, () => { proxy.close() })
  onTeardown(t, () => app.close())
  const base = `/c/${formatKey(drive.key)}`
  const get = (path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
    app.inject({ method, url: base + path, headers })

  await t.test('GET returns the file with type, length, ETag and Accept-Ranges', async () => {
    const res = await get('/hello.txt')
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, 'hello, version two!')
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(res.headers['content-length'], '19')
    assert.equal(res.headers['accept-ranges'], 'bytes')
    assert.match(String(res.headers.etag), /^"[0-9a-z]+-[0-9a-z]+"$/)
    assert.equal((await get('/img/pic.png')).headers['content-type'], 'image/png')
  })

  await t.test('HEAD returns the headers of GET and no body', async () => {
    const res = await get('/big.bin', {}, 'HEAD')
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-length'], String(big.length))
    assert.equal(res.body, '')
  })

  await t.test('a large file streams whole and byte-identical', async () => {
    const res = await get('/big.bin')
    assert.equal(res.statusCode, 200)
    assert.equal(sha(res.rawPayload), sha(big))
  })

  await t.test('Range: 206 for a range, a suffix and an open end; several ranges fall back to 200', async () => {
    let res = await get('/big.bin', { range: 'bytes=100-199' })
    assert.equal(res.statusCode, 206)
    assert.equal(res.headers['content-range'], `bytes 100-199/${big.length}`)
    assert.ok(res.rawPayload.equals(big.subarray(100, 200)))
    res = await get('/big.bin', { range: 'bytes=-10' })
    assert.equal(res.statusCode, 206)
    assert.ok(res.rawPayload.equals(big.subarray(big.length - 10)))
    res = await get('/big.bin', { range: `bytes=${big.length - 5}-` })
    assert.equal(res.statusCode, 206)
    assert.ok(res.rawPayload.equals(big.subarray(big.length - 5)))
    res = await get('/big.bin', { range: 'bytes=70000-300000' }) // spans many blocks
    assert.ok(res.rawPayload.equals(big.subarray(70000, 300001)))
    res = await get('/hello.txt', { range: 'bytes=0-1,5-6' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, 'hello, version two!')
  })

  await t.test('an unsatisfiable range gets 416 with Content-Range bytes */size', async () => {
    const res = await get('/hello.txt', { range: 'bytes=500-600' })
    assert.equal(res.statusCode, 416)
    assert.equal(res.headers['content-range'], 'bytes */19')
    assert.equal((await get('/empty.txt', { range: 'bytes=0-0' })).statusCode, 416)
  })

  await t.test('If-None-Match with the current ETag gets 304; If-Range with an old one ignores Range', async () => {
    const etag = String((await get('/hello.txt')).headers.etag)
    const res = await get('/hello.txt', { 'if-none-match': etag })
    assert.equal(res.statusCode, 304)
    assert.equal(res.body, '')
    assert.equal((await get('/hello.txt', { 'if-none-match': '"nope"' })).statusCode, 200)
    const partial = await get('/hello.txt', { range: 'bytes=0-0', 'if-range': '"stale"' })
    assert.equal(partial.statusCode, 200)
  })

  await t.test('directories: index.html, trailing-slash redirects, HTML and JSON listings', async () => {
    let res = await get('/')
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, '<h1>home</h1>')
    res = await app.inject({ method: 'GET', url: base })
    assert.equal(res.statusCode, 301)
    assert.equal(res.headers.location, base + '/')
    res = await get('/docs?x=1')
    assert.equal(res.statusCode, 301)
    assert.equal(res.headers.location, base + '/docs/?x=1')
    res = await get('/docs/')
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/html/)
    assert.match(res.body, /href="readme.md"/)
    res = await get('/docs/', { accept: 'application/json' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json().entries, [{ name: 'deep', type: 'directory' }, { name: 'readme.md', type: 'file', size: 6 }])
    res = await get('/', { accept: 'application/json' })
    assert.deepEqual(res.json().entries.map((e: { name: string }) => e.name), ['big.bin', 'docs', 'empty.txt', 'hello.txt', 'img', 'index.html'])
  })

  await t.test('?version=N reads the cloud as it was', async () => {
    const res = await get(`/hello.txt?version=${v1}`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, 'hello, version one')
    assert.match(String(res.headers['cache-control']), /immutable/)
    assert.equal((await get(`/index.html?version=${v1}`)).statusCode, 404)
    for (const bad of ['0', 'abc', '-1', String(drive.version + 1)]) {
      const r = await get(`/hello.txt?version=${bad}`)
      assert.equal(r.statusCode, 400, bad)
      assert.equal(r.json().error.code, 'BAD_VERSION')
    }
  })

  await t.test('missing files, unknown clouds and bad keys get JSON errors', async () => {
    let res = await get('/nope.txt')
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error.code, 'FILE_NOT_FOUND')
    res = await get('/nope/')
    assert.equal(res.statusCode, 404)
    res = await app.inject({ method: 'GET', url: `/c/${formatKey(randomBytes(32))}/x` })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error.code, 'CLOUD_NOT_FOUND')
    res = await app.inject({ method: 'GET', url: '/c/not-a-key/x' })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error.code, 'BAD_KEY')
  })

  await t.test('traversal, encoded traversal, NUL and over-long paths get 400', async () => {
    // Over a real socket: injected URLs are normalised first, which would hide literal dot segments.
    const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
    for (const path of ['/../hello.txt', '/docs/../../x', '/./hello.txt', '/%2e%2e/hello.txt', '/docs%2f..%2f..%2fx', '/a%00b', '/a%5c..%5cb', '/bad%zzescape', '/' + 'a'.repeat(4097)]) {
      const res = await rawGet(url, base + path)
      assert.equal(res.status, 400, path)
      assert.equal(JSON.parse(res.body).error.code, 'BAD_PATH', path)
    }
  })

  await t.test('a copy closed under the request (purged after a handoff) answers 503 with Retry-After, not 500', async () => {
    await drive.close()
    const res = await get('/hello.txt')
    assert.equal(res.statusCode, 503)
    assert.equal(res.headers['retry-after'], '1')
    assert.equal(res.json().error.code, 'CLOSED')
    assert.doesNotMatch(res.body, /at .*\.js/, 'no stack trace')
  })
})
