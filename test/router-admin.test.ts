// The HTTP app: health is open, everything else under /api needs the admin token, errors are JSON.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { parseInvite } from '../node/pairing.js'
import { formatKey, parseKey } from '../protocol/index.js'
import { inProcessNode, loopbackDht, waitFor } from './helpers.js'

test('admin API', async (t) => {
  const dht = await loopbackDht(t)
  const { bevy, app } = await inProcessNode(t, dht)
  const auth = { authorization: `Bearer ${bevy.adminToken}` }

  await t.test('health needs no token and names the node', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/health' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { ok: true })
    assert.equal(res.headers['x-bevy-node'], bevy.idText)
  })

  await t.test('other routes refuse a missing or wrong token with 401 JSON', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: bevy.adminToken }, { authorization: `Bearer ${bevy.adminToken}x` }]) {
      for (const [method, url] of [['GET', '/api/status'], ['POST', '/api/invites'], ['GET', '/metrics']] as const) {
        const res = await app.inject({ method, url, headers })
        assert.equal(res.statusCode, 401, `${method} ${url} with ${JSON.stringify(headers)}`)
        assert.equal(res.json().error.code, 'UNAUTHORIZED')
      }
    }
  })

  await t.test('status reports this node, the bevy and its nodes', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/status', headers: auth })
    assert.equal(res.statusCode, 200)
    const body = res.json()
    const { diskBytes, ...node } = body.node
    assert.deepEqual(node, { id: bevy.idText, url: 'http://127.0.0.1:7420', zone: 'default', replicasHeld: 0 })
    assert.ok(diskBytes > 0, 'the storage directory is measured')
    assert.equal(body.bevy, bevy.status().bevy)
    assert.equal(body.nodes.length, 1)
    assert.equal(body.nodes[0].state, 'live')
    assert.deepEqual(Object.keys(body.nodes[0].load).sort(), ['connections', 'cpu', 'eventLoop', 'mem', 'memFreeBytes', 'rssBytes'])
  })

  await t.test('invites honour ttl and uses, and validate their body', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/invites', headers: auth, payload: { ttlMs: 60_000, uses: 3 } })
    assert.equal(res.statusCode, 200)
    const body = res.json()
    assert.equal(body.uses, 3)
    const parsed = parseInvite(body.invite, Date.now())
    assert.ok(Math.abs(parsed.expiresMs - (Date.now() + 60_000)) < 10_000)
    const noBody = await app.inject({ method: 'POST', url: '/api/invites', headers: auth })
    assert.equal(noBody.statusCode, 200, 'a body is optional; defaults apply')
    for (const payload of [{ ttlMs: -5 }, { uses: 0 }, { uses: 'many' }, { extra: true }]) {
      const bad = await app.inject({ method: 'POST', url: '/api/invites', headers: auth, payload })
      assert.equal(bad.statusCode, 400, JSON.stringify(payload))
      assert.equal(bad.json().error.code, 'BAD_REQUEST')
    }
    const notJson = await app.inject({ method: 'POST', url: '/api/invites', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"ttlMs":' })
    assert.equal(notJson.statusCode, 400)
    assert.doesNotMatch(notJson.body, /at .*\.js/, 'no stack trace to the client')
  })

  await t.test('clouds: register idempotently, validate key and replicas, 404 for unknown ones', async () => {
    const key = formatKey(randomBytes(32))
    const hexForm = parseKey(key).toString('hex')
    const first = await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key } })
    assert.equal(first.statusCode, 200)
    assert.equal(first.json().replicas, 3, 'replicas default to 3')
    const again = await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: hexForm } })
    assert.equal(again.statusCode, 200, 'hex input names the same cloud')
    const list = await app.inject({ method: 'GET', url: '/api/clouds', headers: auth })
    assert.equal(list.json().clouds.length, 1, 'registering twice is idempotent')
    const shown = await app.inject({ method: 'GET', url: `/api/clouds/${hexForm}`, headers: auth })
    assert.equal(shown.json().key, key, 'keys come out in z-base-32')
    assert.equal(shown.json().placement.length, 1, 'a one-node bevy places one replica')
    assert.equal(shown.json().placement[0].node, bevy.idText)

    for (const bad of ['nope', 'l'.repeat(52), 'g'.repeat(64), '']) {
      const res = await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key: bad } })
      assert.equal(res.statusCode, 400, bad)
      assert.equal(res.json().error.code, 'BAD_KEY')
    }
    for (const replicas of [0, -1, 17, 'three', 2.5]) {
      const res = await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key, replicas } })
      assert.equal(res.statusCode, 400, String(replicas))
    }
    const badPath = await app.inject({ method: 'GET', url: '/api/clouds/not-a-key', headers: auth })
    assert.equal(badPath.json().error.code, 'BAD_KEY')
    const unknown = formatKey(randomBytes(32))
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await app.inject({ method, url: `/api/clouds/${unknown}`, headers: auth })
      assert.equal(res.statusCode, 404)
      assert.equal(res.json().error.code, 'CLOUD_NOT_FOUND')
    }
    const removed = await app.inject({ method: 'DELETE', url: `/api/clouds/${key}`, headers: auth })
    assert.equal(removed.statusCode, 200)
    assert.equal((await app.inject({ method: 'GET', url: `/api/clouds/${key}`, headers: auth })).statusCode, 404)
  })

  await t.test('a cloud nobody seeds waits: its replica reports waiting, no ops pile up, reads get 503', async () => {
    const key = formatKey(randomBytes(32))
    await app.inject({ method: 'POST', url: '/api/clouds', headers: auth, payload: { key } })
    const replica = await waitFor('the replica to report waiting', async () => {
      const r = (await app.inject({ method: 'GET', url: `/api/clouds/${key}`, headers: auth })).json().placement[0]
      return r?.state === 'waiting' && bevy.snapshot.progress.size > 0 ? r : undefined
    }, 20_000)
    assert.equal(replica.synced, false)
    const length = bevy.clusterLog.base.length
    await new Promise((resolve) => setTimeout(resolve, 2500)) // longer than syncProgressIntervalMs
    assert.equal(bevy.clusterLog.base.length, length, 'a waiting cloud writes nothing more to the cluster log')
    const read = await app.inject({ method: 'GET', url: `/c/${key}/index.html` })
    assert.equal(read.statusCode, 503)
    assert.equal(read.json().error.code, 'NO_REPLICA')
    assert.ok(Number(read.headers['retry-after']) > 0)
    await app.inject({ method: 'DELETE', url: `/api/clouds/${key}`, headers: auth })
  })

  await t.test('drain needs a known node', async () => {
    const unknown = formatKey(randomBytes(32))
    const res = await app.inject({ method: 'POST', url: `/api/nodes/${unknown}/drain`, headers: auth })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error.code, 'NODE_NOT_FOUND')
    const ok = await app.inject({ method: 'POST', url: `/api/nodes/${bevy.idText}/drain`, headers: auth })
    assert.equal(ok.statusCode, 200)
    const status = await app.inject({ method: 'GET', url: '/api/status', headers: auth })
    assert.equal(status.json().nodes[0].state, 'draining')
    await app.inject({ method: 'DELETE', url: `/api/nodes/${bevy.idText}/drain`, headers: auth })
  })

  await t.test('unknown routes get 404 JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope' })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error.code, 'NOT_FOUND')
  })
})
