// The OpenAPI document at /api/openapi.json against the node that serves it: the document is valid
// OpenAPI 3, every operation it lists is called for real (a table of example requests that must
// cover them all) and answers with a status and body its `responses` describe, and a bad body gets
// a 400 that says which field broke which rule.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { test } from 'node:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv, type ValidateFunction } from 'ajv'
import type { InjectOptions } from 'fastify'
import type { CloudInfo } from '../node/bevy.js'
import { formatKey, parseKey } from '../protocol/index.js'
import { inProcessNode, loopbackDht, seedDrives, waitFor } from './helpers.js'

interface MediaObject { schema?: object }
interface ResponseObject { description: string, content?: Record<string, MediaObject> }
interface OperationObject {
  responses: Record<string, ResponseObject>
  security?: Array<Record<string, string[]>>
  requestBody?: { required?: boolean, content: Record<string, MediaObject> }
}
interface OpenApiDoc {
  openapi: string
  security?: Array<Record<string, string[]>>
  paths: Record<string, Record<string, OperationObject>>
}

/** An answer, however it was obtained (inject, or a real socket for event streams). */
interface Answer { status: number, headers: Record<string, string | string[] | number | undefined>, body: string }

/** One example request for the operation `op` ("GET /api/clouds/{key}", as the document names it). */
interface Step {
  op: string
  name: string
  /** Built when the step runs, so it can use what earlier steps learned (a session cookie). */
  request?: () => InjectOptions
  /** Instead of `request`: obtains the answer itself. */
  custom?: () => Promise<Answer>
  status: number
  check?: (answer: Answer) => void | Promise<void>
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

function json (answer: Answer): any {
  return JSON.parse(answer.body)
}

function header (answer: Answer, name: string): string | undefined {
  const value = answer.headers[name]
  return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value)
}

/** "text/html; charset=utf-8" → "text/html". */
function mediaTypeOf (contentType: string | undefined): string | undefined {
  return contentType?.split(';', 1)[0]?.trim().toLowerCase()
}

/** The documented media type a response's type falls under: exact, then `type/*`, then `*\/*`. */
function documentedMedia (keys: string[], type: string): string | undefined {
  return keys.find((k) => k.toLowerCase() === type) ??
    keys.find((k) => k.endsWith('/*') && k !== '*/*' && type.startsWith(k.slice(0, -1).toLowerCase())) ??
    keys.find((k) => k === '*/*')
}

test('the OpenAPI document is valid and every route it lists answers as it says', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const { bevy, app } = await inProcessNode(t, dht)
  const token = bevy.adminToken
  const auth = { authorization: `Bearer ${token}` }

  // A real cloud: an owner's drive with a page, a text file and a subfolder, held by this node.
  const { keys: [key], drives: [drive] } = await seedDrives(t, dht, 1)
  const text = 'hello from the cloud\n'
  await drive!.put('/notes/hello.txt', Buffer.from(text))
  const cloud = key!
  const cloudHex = parseKey(cloud).toString('hex')
  const added = await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: cloud, replicas: 1 } })
  assert.equal(added.statusCode, 200, added.body)
  await waitFor('this node to hold a synced copy of the cloud', async () => {
    const info = (await app.inject({ method: 'GET', url: `/api/clouds/${cloud}`, headers: auth })).json() as CloudInfo
    const mine = info.placement.find((r) => r.node === bevy.idText)
    if (mine?.synced !== true) return undefined
    const read = await app.inject({ method: 'GET', url: `/c/${cloud}/notes/hello.txt` })
    return read.statusCode === 200 ? true : undefined
  }, 90_000, 200)

  const docAnswer = await app.inject({ method: 'GET', url: '/api/openapi.json', headers: auth })
  assert.equal(docAnswer.statusCode, 200)
  const doc = docAnswer.json() as OpenApiDoc

  await t.test('the document validates as OpenAPI 3', async () => {
    assert.match(doc.openapi, /^3\./)
    const validator = new Validator()
    const result = await validator.validate(docAnswer.json() as Record<string, unknown>)
    assert.ok(result.valid, `not valid OpenAPI: ${JSON.stringify(result.errors, null, 2)}`)
    assert.match(validator.version, /^3\./)
  })

  const ajv = new Ajv({ strict: false, allErrors: true })
  const compiled = new Map<object, ValidateFunction>()
  function validatorOf (schema: object): ValidateFunction {
    let fn = compiled.get(schema)
    if (fn === undefined) compiled.set(schema, fn = ajv.compile(schema))
    return fn
  }

  function operation (op: string): OperationObject {
    const [method, path] = op.split(' ') as [string, string]
    const found = doc.paths[path]?.[method.toLowerCase()]
    assert.ok(found !== undefined, `${op} is not in the document`)
    return found
  }

  /** The answer's status is documented (exactly or by class), and its body has a documented media type and shape. */
  function conforms (op: string, what: string, answer: Answer): void {
    const { responses } = operation(op)
    const documented = responses[String(answer.status)] ?? responses[`${String(answer.status)[0]}XX`] ?? responses.default
    assert.ok(documented !== undefined, `${op} (${what}) answered ${answer.status}, which the document does not list (${Object.keys(responses).join(', ')})`)
    if (answer.body.length === 0) return
    assert.ok(documented.content !== undefined, `${op} (${what}) answered ${answer.status} with a body, but the document gives that response none`)
    const type = mediaTypeOf(header(answer, 'content-type'))
    assert.ok(type !== undefined, `${op} (${what}): a body without a Content-Type`)
    const media = documentedMedia(Object.keys(documented.content), type)
    assert.ok(media !== undefined, `${op} (${what}) answered ${answer.status} as ${type}; the document says ${Object.keys(documented.content).join(', ')}`)
    if (type === 'application/json' && media === 'application/json') {
      const schema = documented.content[media]?.schema
      if (schema !== undefined) {
        const validate = validatorOf(schema)
        assert.ok(validate(json(answer)), `${op} (${what}) ${answer.status} body ${answer.body.slice(0, 500)} breaks its documented schema: ${ajv.errorsText(validate.errors)}`)
      }
    }
  }

  /** A documented JSON request body schema accepts exactly the bodies the route does not refuse with BAD_REQUEST. */
  function bodyAgreesWithDocument (op: string, what: string, payload: unknown, answer: Answer): void {
    const schema = operation(op).requestBody?.content['application/json']?.schema
    if (schema === undefined || payload === undefined) return
    const validate = validatorOf(schema)
    const acceptedByDocument = validate(payload)
    const refused = answer.status === 400 && json(answer).error.code === 'BAD_REQUEST'
    assert.equal(refused, !acceptedByDocument, `${op} (${what}): the documented body schema ${acceptedByDocument ? 'accepts' : 'refuses'} ${JSON.stringify(payload)}, the route answered ${answer.status} ${answer.body}`)
  }

  const inject = async (opts: InjectOptions): Promise<Answer> => {
    const res = await app.inject(opts)
    return { status: res.statusCode, headers: res.headers, body: res.body }
  }

  const errorCode = (code: string) => (a: Answer) => { assert.equal(json(a).error.code, code, a.body) }
  const unknownCloud = formatKey(randomBytes(32))
  const unseededCloud = formatKey(randomBytes(32)) // registered, nobody has it: no replica to serve it
  const self = bevy.idText
  let sessionCookie = ''
  let madeInvite = ''
  const updateListeners = bevy.listenerCount('update')
  let etag = ''
  let hostedCloud = ''
  const device = formatKey(randomBytes(32))

  const steps: Step[] = [
    { op: 'GET /api/health', name: 'no token needed', request: () => ({ method: 'GET', url: '/api/health' }), status: 200, check: (a) => assert.deepEqual(json(a), { ok: true }) },
    { op: 'GET /api/openapi.json', name: 'the document', request: () => ({ method: 'GET', url: '/api/openapi.json', headers: auth }), status: 200, check: (a) => assert.equal(json(a).openapi, doc.openapi) },
    { op: 'GET /api/status', name: 'status', request: () => ({ method: 'GET', url: '/api/status', headers: auth }), status: 200, check: (a) => assert.equal(json(a).node.id, self) },
    { op: 'GET /api/clouds', name: 'list', request: () => ({ method: 'GET', url: '/api/clouds', headers: auth }), status: 200, check: (a) => assert.deepEqual(json(a).clouds.map((c: CloudInfo) => c.key), [cloud]) },
    { op: 'POST /api/clouds', name: 'register again (idempotent)', request: () => ({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: cloud, replicas: 1 } }), status: 200, check: (a) => assert.equal(json(a).key, cloud) },
    { op: 'POST /api/clouds', name: 'register a cloud nobody seeds', request: () => ({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: unseededCloud, replicas: 1 } }), status: 200 },
    { op: 'POST /api/clouds', name: 'a malformed key', request: () => ({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: 'nope' } }), status: 400, check: errorCode('BAD_KEY') },
    {
      op: 'GET /api/clouds/{key}', name: 'the held cloud, by its hex key', request: () => ({ method: 'GET', url: `/api/clouds/${cloudHex}`, headers: auth }), status: 200,
      check: (a) => {
        const info = json(a) as CloudInfo
        assert.equal(info.key, cloud, 'keys come out in z-base-32')
        assert.deepEqual(info.placement.map((r) => [r.node, r.role, r.synced]), [[self, 'target', true]])
      }
    },
    { op: 'GET /api/clouds/{key}', name: 'an unknown cloud', request: () => ({ method: 'GET', url: `/api/clouds/${unknownCloud}`, headers: auth }), status: 404, check: errorCode('CLOUD_NOT_FOUND') },
    { op: 'GET /api/clouds/{key}', name: 'a malformed key', request: () => ({ method: 'GET', url: '/api/clouds/not-a-key', headers: auth }), status: 400, check: errorCode('BAD_KEY') },
    {
      op: 'GET /.well-known/bevy/clouds/{cloud}', name: 'the replica list', request: () => ({ method: 'GET', url: `/.well-known/bevy/clouds/${cloud}` }), status: 200,
      check: (a) => {
        assert.equal(json(a).cloud, cloud)
        assert.deepEqual(json(a).replicas.map((r: { node: string, synced: boolean }) => [r.node, r.synced]), [[self, true]])
      }
    },
    { op: 'GET /.well-known/bevy/clouds/{cloud}', name: 'an unknown cloud', request: () => ({ method: 'GET', url: `/.well-known/bevy/clouds/${unknownCloud}` }), status: 404, check: errorCode('CLOUD_NOT_FOUND') },
    { op: 'GET /.well-known/bevy/clouds/{cloud}', name: 'a malformed key', request: () => ({ method: 'GET', url: '/.well-known/bevy/clouds/not-a-key' }), status: 400, check: errorCode('BAD_KEY') },
    {
      op: 'GET /c/{*}', name: 'a file', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/hello.txt` }), status: 200,
      check: (a) => {
        assert.equal(a.body, text)
        assert.match(header(a, 'content-type') ?? '', /^text\/plain/)
        assert.equal(header(a, 'x-bevy-node'), self)
        etag = header(a, 'etag') ?? ''
        assert.notEqual(etag, '', 'files carry an ETag')
      }
    },
    { op: 'GET /c/{*}', name: 'a directory: its index.html', request: () => ({ method: 'GET', url: `/c/${cloud}/` }), status: 200, check: (a) => assert.equal(a.body, '<h1>cloud 0</h1>') },
    {
      op: 'GET /c/{*}', name: 'a directory listing as JSON', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/`, headers: { accept: 'application/json' } }), status: 200,
      check: (a) => {
        assert.match(header(a, 'content-type') ?? '', /^application\/json/)
        assert.deepEqual(json(a).entries, [{ name: 'hello.txt', type: 'file', size: Buffer.byteLength(text) }])
      }
    },
    { op: 'GET /c/{*}', name: 'a directory listing as HTML', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/` }), status: 200, check: (a) => assert.match(a.body, /hello\.txt/) },
    { op: 'GET /c/{*}', name: 'a range', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/hello.txt`, headers: { range: 'bytes=0-4' } }), status: 206, check: (a) => assert.equal(a.body, 'hello') },
    { op: 'GET /c/{*}', name: 'an unsatisfiable range', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/hello.txt`, headers: { range: 'bytes=1000-2000' } }), status: 416 },
    { op: 'GET /c/{*}', name: 'not modified', request: () => ({ method: 'GET', url: `/c/${cloud}/notes/hello.txt`, headers: { 'if-none-match': etag } }), status: 304 },
    { op: 'GET /c/{*}', name: 'the cloud root without its slash', request: () => ({ method: 'GET', url: `/c/${cloud}` }), status: 301, check: (a) => assert.equal(header(a, 'location'), `/c/${cloud}/`) },
    { op: 'GET /c/{*}', name: 'a missing file', request: () => ({ method: 'GET', url: `/c/${cloud}/nope.txt` }), status: 404, check: errorCode('FILE_NOT_FOUND') },
    { op: 'GET /c/{*}', name: 'an unknown cloud', request: () => ({ method: 'GET', url: `/c/${unknownCloud}/index.html` }), status: 404, check: errorCode('CLOUD_NOT_FOUND') },
    { op: 'GET /c/{*}', name: 'a malformed cloud key', request: () => ({ method: 'GET', url: '/c/not-a-key/index.html' }), status: 400, check: errorCode('BAD_KEY') },
    {
      op: 'GET /c/{*}', name: 'a cloud with no replica up', request: () => ({ method: 'GET', url: `/c/${unseededCloud}/index.html` }), status: 503,
      check: (a) => { errorCode('NO_REPLICA')(a); assert.ok(Number(header(a, 'retry-after')) > 0) }
    },
    {
      op: 'HEAD /c/{*}', name: 'a file', request: () => ({ method: 'HEAD', url: `/c/${cloud}/notes/hello.txt` }), status: 200,
      check: (a) => { assert.equal(a.body, ''); assert.equal(header(a, 'content-length'), String(Buffer.byteLength(text))) }
    },
    { op: 'HEAD /c/{*}', name: 'a missing file', request: () => ({ method: 'HEAD', url: `/c/${cloud}/nope.txt` }), status: 404 },
    ...(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const).map((method): Step => ({
      op: `${method} /c/{*}`, name: 'a write to a read-only cloud',
      request: () => ({ method, url: `/c/${cloud}/notes/hello.txt`, ...(method === 'OPTIONS' || method === 'DELETE' ? {} : { headers: { 'content-type': 'text/plain' }, payload: 'new text' }) }),
      status: 405,
      check: (a) => { errorCode('METHOD_NOT_ALLOWED')(a); assert.equal(header(a, 'allow'), 'GET, HEAD') }
    })),
    ...(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const).map((method): Step => ({
      op: `${method} /c/{*}`, name: 'an unknown cloud', request: () => ({ method, url: `/c/${unknownCloud}/x` }), status: 404, check: errorCode('CLOUD_NOT_FOUND')
    })),
    {
      op: 'GET /metrics', name: 'the metrics', request: () => ({ method: 'GET', url: '/metrics', headers: auth }), status: 200,
      check: (a) => { assert.match(header(a, 'content-type') ?? '', /^text\/plain/); assert.match(a.body, /^# HELP bevy_router_requests_total /m) }
    },
    {
      op: 'POST /api/invites', name: 'ttl and uses', request: () => ({ method: 'POST', url: '/api/invites', headers: auth, payload: { ttlMs: 60_000, uses: 2 } }), status: 200,
      check: (a) => { assert.equal(json(a).uses, 2); assert.ok(json(a).invite.length > 0); madeInvite = json(a).invite }
    },
    { op: 'POST /api/invites/revoke', name: 'an invite made here', request: () => ({ method: 'POST', url: '/api/invites/revoke', headers: auth, payload: { invite: madeInvite } }), status: 200, check: (a) => assert.deepEqual(json(a), { revoked: true }) },
    { op: 'POST /api/invites/revoke', name: 'garbage', request: () => ({ method: 'POST', url: '/api/invites/revoke', headers: auth, payload: { invite: 'nonsense' } }), status: 400, check: errorCode('BAD_INVITE') },
    { op: 'POST /api/invites', name: 'an invalid uses', request: () => ({ method: 'POST', url: '/api/invites', headers: auth, payload: { uses: 0 } }), status: 400, check: errorCode('BAD_REQUEST') },
    // The node holds replicas, so it refuses to leave: the test never makes it actually leave.
    { op: 'POST /api/leave', name: 'while holding replicas', request: () => ({ method: 'POST', url: '/api/leave', headers: auth }), status: 409, check: errorCode('STILL_HOLDING') },
    {
      op: 'DELETE /api/clouds/{key}', name: 'the unseeded cloud, by its hex key', request: () => ({ method: 'DELETE', url: `/api/clouds/${parseKey(unseededCloud).toString('hex')}`, headers: auth }), status: 200,
      check: (a) => assert.deepEqual(json(a), { key: unseededCloud, removed: true }, 'keys come out in z-base-32')
    },
    { op: 'DELETE /api/clouds/{key}', name: 'an unknown cloud', request: () => ({ method: 'DELETE', url: `/api/clouds/${unknownCloud}`, headers: auth }), status: 404, check: errorCode('CLOUD_NOT_FOUND') },
    { op: 'POST /api/nodes/{id}/drain', name: 'this node', request: () => ({ method: 'POST', url: `/api/nodes/${self}/drain`, headers: auth }), status: 200, check: (a) => assert.deepEqual(json(a), { node: self, drained: true }) },
    {
      op: 'DELETE /api/nodes/{id}/drain', name: 'this node, by its hex id', request: () => ({ method: 'DELETE', url: `/api/nodes/${parseKey(self).toString('hex')}/drain`, headers: auth }), status: 200,
      check: (a) => assert.deepEqual(json(a), { node: self, drained: false })
    },
    { op: 'POST /api/nodes/{id}/drain', name: 'an unknown node', request: () => ({ method: 'POST', url: `/api/nodes/${unknownCloud}/drain`, headers: auth }), status: 404, check: errorCode('NODE_NOT_FOUND') },
    { op: 'DELETE /api/nodes/{id}', name: 'this node itself', request: () => ({ method: 'DELETE', url: `/api/nodes/${self}`, headers: auth }), status: 400, check: errorCode('BAD_REQUEST') },
    { op: 'DELETE /api/nodes/{id}', name: 'an unknown node', request: () => ({ method: 'DELETE', url: `/api/nodes/${unknownCloud}`, headers: auth }), status: 404, check: errorCode('NODE_NOT_FOUND') },
    { op: 'DELETE /api/nodes/{id}/drain', name: 'a malformed id', request: () => ({ method: 'DELETE', url: '/api/nodes/nope/drain', headers: auth }), status: 400, check: errorCode('BAD_KEY') },
    { op: 'POST /api/session', name: 'a wrong token', request: () => ({ method: 'POST', url: '/api/session', payload: { token: 'wrong' } }), status: 401, check: errorCode('UNAUTHORIZED') },
    {
      op: 'POST /api/session', name: 'sign in', request: () => ({ method: 'POST', url: '/api/session', payload: { token } }), status: 200,
      check: (a) => {
        const cookie = [header(a, 'set-cookie') ?? ''].flat().join(', ')
        assert.match(cookie, /HttpOnly/i)
        assert.match(cookie, /SameSite=Strict/i)
        sessionCookie = /bevy_session=[^;]+/.exec(cookie)?.[0] ?? ''
        assert.notEqual(sessionCookie, '', 'a session cookie is set')
      }
    },
    { op: 'GET /api/session', name: 'with the session cookie', request: () => ({ method: 'GET', url: '/api/session', headers: { cookie: sessionCookie } }), status: 200, check: (a) => assert.deepEqual(json(a), { ok: true }) },
    { op: 'GET /api/status', name: 'with the session cookie', request: () => ({ method: 'GET', url: '/api/status', headers: { cookie: sessionCookie } }), status: 200 },
    { op: 'DELETE /api/session', name: 'sign out', request: () => ({ method: 'DELETE', url: '/api/session', headers: { cookie: sessionCookie } }), status: 200, check: (a) => assert.match(String(header(a, 'set-cookie')), /bevy_session=;/) },
    { op: 'GET /api/session', name: 'with a signed-out cookie', request: () => ({ method: 'GET', url: '/api/session', headers: { cookie: sessionCookie } }), status: 401, check: errorCode('UNAUTHORIZED') },
    {
      // The stream never ends, so inject would wait forever: a real socket, read up to the first event.
      op: 'GET /api/dashboard/stream', name: 'the first state event', status: 200,
      // node:http, not fetch: after fetch's AbortController aborts, undici opens a spare connection
      // that never sends a request, and app.close() then waits ~30 s for Node to time it out.
      custom: async () => {
        const address = await app.listen({ port: 0, host: '127.0.0.1' })
        return await new Promise<Answer>((resolve, reject) => {
          const req = http.get(`${address}/api/dashboard/stream`, { headers: auth, agent: false }, (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              body += chunk
              if (!body.includes('\n\n')) return
              req.destroy() // the client goes away; the server must let go of the stream
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
          })
          req.on('error', reject)
        })
      },
      check: async (a) => {
        assert.match(header(a, 'content-type') ?? '', /^text\/event-stream/)
        const event = a.body.slice(0, a.body.indexOf('\n\n')).split('\n')
        assert.ok(event.includes('event: state'), `the first event is a state event: ${a.body.slice(0, 200)}`)
        const data = event.find((line) => line.startsWith('data: '))
        assert.ok(data !== undefined, 'the event has data')
        const state = JSON.parse(data.slice('data: '.length))
        assert.deepEqual(Object.keys(state).sort(), ['clouds', 'events', 'status'])
        assert.equal(state.status.node.id, self)
        assert.deepEqual(state.clouds.map((c: CloudInfo) => c.key), [cloud])
        assert.ok(Array.isArray(state.events))
        await waitFor('the server to let go of the stream the client left', () => bevy.listenerCount('update') === updateListeners ? true : undefined, 10_000, 20)
      }
    },
    {
      op: 'POST /api/clouds', name: 'create a hosted cloud', request: () => ({ method: 'POST', url: '/api/clouds', headers: auth, payload: { hosted: true, replicas: 1 } }), status: 201,
      check: (a) => {
        const created = json(a) as CloudInfo & { token: string }
        assert.equal(created.hosted, true)
        assert.ok(created.token.length >= 32 && created.base !== undefined)
        hostedCloud = created.key
      }
    },
    { op: 'POST /api/clouds', name: 'a hosted cloud with a key', request: () => ({ method: 'POST', url: '/api/clouds', headers: auth, payload: { hosted: true, key: cloud } }), status: 400, check: errorCode('BAD_REQUEST') },
    { op: 'POST /api/clouds/{key}/token', name: 'a new write token', request: () => ({ method: 'POST', url: `/api/clouds/${hostedCloud}/token`, headers: auth }), status: 200, check: (a) => assert.equal(json(a).key, hostedCloud) },
    { op: 'POST /api/clouds/{key}/token', name: 'an owner-held cloud has no token', request: () => ({ method: 'POST', url: `/api/clouds/${cloud}/token`, headers: auth }), status: 405, check: errorCode('METHOD_NOT_ALLOWED') },
    { op: 'POST /api/clouds/{key}/devices', name: 'authorize a device', request: () => ({ method: 'POST', url: `/api/clouds/${hostedCloud}/devices`, headers: auth, payload: { device } }), status: 200, check: (a) => assert.deepEqual(json(a).devices, [device]) },
    { op: 'GET /api/clouds/{key}/requests', name: 'no device has asked', request: () => ({ method: 'GET', url: `/api/clouds/${hostedCloud}/requests`, headers: auth }), status: 200, check: (a) => assert.deepEqual(json(a).requests, []) },
    { op: 'GET /api/clouds/{key}/devices', name: 'the authorized devices', request: () => ({ method: 'GET', url: `/api/clouds/${hostedCloud}/devices`, headers: auth }), status: 200, check: (a) => assert.deepEqual(json(a).devices, [device]) },
    { op: 'DELETE /api/clouds/{key}/devices/{device}', name: 'deauthorize it', request: () => ({ method: 'DELETE', url: `/api/clouds/${hostedCloud}/devices/${device}`, headers: auth }), status: 200, check: (a) => assert.deepEqual(json(a).devices, []) },
    { op: 'DELETE /api/clouds/{key}/devices/{device}', name: 'an unknown cloud', request: () => ({ method: 'DELETE', url: `/api/clouds/${unknownCloud}/devices/${device}`, headers: auth }), status: 404, check: errorCode('CLOUD_NOT_FOUND') }
  ]

  await t.test('the example requests cover every documented operation, and only those', () => {
    const documented = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) documented.add(`${method.toUpperCase()} ${path}`)
    }
    const covered = new Set(steps.map((s) => s.op))
    const untested = [...documented].filter((op) => !covered.has(op))
    assert.deepEqual(untested, [], 'documented operations without an example request in this test: add them to `steps`')
    const stale = [...covered].filter((op) => !documented.has(op))
    assert.deepEqual(stale, [], 'example requests for operations the document does not list')
  })

  await t.test('every example answers with the expected status, documented, in its documented shape', async () => {
    for (const step of steps) {
      const what = step.name
      const opts = step.request?.()
      const answer = step.custom !== undefined ? await step.custom() : await inject(opts!)
      assert.equal(answer.status, step.status, `${step.op} (${what}): ${answer.status} ${answer.body.slice(0, 300)}`)
      conforms(step.op, what, answer)
      if (opts?.payload !== undefined && typeof opts.payload === 'object') bodyAgreesWithDocument(step.op, what, opts.payload, answer)
      await step.check?.(answer)
    }
  })

  await t.test('operations the document secures refuse a request without credentials (401, documented); the others need none', async () => {
    const securityOf = (op: string) => operation(op).security ?? doc.security ?? []
    for (const op of new Set(steps.map((s) => s.op))) {
      const secured = securityOf(op).length > 0
      // A public operation's example that its own handler does not refuse (a wrong sign-in token is refused, by design).
      const example = steps.find((s) => s.op === op && s.request !== undefined && (secured || s.status !== 401))
      const base: InjectOptions = example?.request?.() ?? { method: 'GET', url: op.split(' ')[1]! }
      const { authorization: _a, cookie: _c, ...headers } = (base.headers ?? {}) as Record<string, string>
      const answer = await inject({ ...base, headers })
      conforms(op, 'without credentials', answer)
      if (!secured) {
        assert.notEqual(answer.status, 401, `${op} is documented as public, but refused a request without credentials: ${answer.body}`)
        continue
      }
      assert.equal(answer.status, 401, `${op} without credentials: ${answer.status} ${answer.body.slice(0, 200)}`)
      errorCode('UNAUTHORIZED')(answer)
      assert.equal(header(answer, 'www-authenticate'), 'Bearer')
    }
  })

  await t.test('a bad body gets a 400 BAD_REQUEST naming the field and the rule it broke', async () => {
    const validKey = formatKey(randomBytes(32))
    const cases: Array<{ op: string, url: string, payload: unknown, message: RegExp[] }> = [
      { op: 'POST /api/clouds', url: '/api/clouds', payload: {}, message: [/required property 'key'/] },
      { op: 'POST /api/clouds', url: '/api/clouds', payload: { key: validKey, replicas: 0 }, message: [/replicas/, /must be >= 1/] },
      { op: 'POST /api/clouds', url: '/api/clouds', payload: { key: validKey, replicas: 2.5 }, message: [/replicas/, /must be integer/] },
      { op: 'POST /api/clouds', url: '/api/clouds', payload: { key: validKey, colour: 'blue' }, message: [/must NOT have additional properties/i] },
      { op: 'POST /api/invites', url: '/api/invites', payload: { uses: 0 }, message: [/uses/, /must be >= 1/] },
      { op: 'POST /api/invites', url: '/api/invites', payload: { ttlMs: 'soon' }, message: [/ttlMs/, /must be integer/] },
      { op: 'POST /api/session', url: '/api/session', payload: {}, message: [/required property 'token'/] },
      { op: 'POST /api/session', url: '/api/session', payload: { token: '' }, message: [/token/, /must NOT have fewer than 1 characters/] }
    ]
    for (const c of cases) {
      const answer = await inject({ method: 'POST', url: c.url, headers: auth, payload: c.payload as Record<string, unknown> })
      const what = JSON.stringify(c.payload)
      assert.equal(answer.status, 400, `${c.op} ${what}: ${answer.status} ${answer.body}`)
      const body = json(answer)
      assert.deepEqual(Object.keys(body), ['error'])
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'])
      assert.equal(body.error.code, 'BAD_REQUEST')
      for (const m of c.message) assert.match(body.error.message, m, `${c.op} ${what}: the message names the field and rule`)
      conforms(c.op, what, answer)
      bodyAgreesWithDocument(c.op, what, c.payload, answer)
    }
    const clouds = json(await inject({ method: 'GET', url: '/api/clouds', headers: auth })).clouds as CloudInfo[]
    assert.ok(!clouds.some((c) => c.key === validKey), 'no refused body registered its cloud')
  })
})
