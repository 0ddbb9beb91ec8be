// Guessing a hosted cloud's write credentials is braked like admin auth: after authFailureBurst
// wrong tokens or bad signatures from one address in a window, that address gets 429 with
// Retry-After for its writes, the right token included, until the window ends. The budget is
// apart from admin sign-ins'. One in-process node holds a real hosted cloud; the window runs on a
// clock the test moves, so nothing here sleeps.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { keyPair, sign } from 'hypercore-crypto'
import pino from 'pino'
import { parseKey, signedWriteMessage } from '../protocol/index.js'
import { inProcessNode, loopbackDht, waitFor } from './helpers.js'

test('hosted cloud writes: failed tokens and signatures are braked per address, apart from admin auth', async (t) => {
  const dht = await loopbackDht(t)
  let nowMs = 1_000_000
  const { bevy, app } = await inProcessNode(t, dht, () => ({ log: pino({ level: 'silent' }), authClock: { now: () => nowMs } }))
  const burst = bevy.config.authFailureBurst
  const windowMs = bevy.config.authFailureWindowMs

  const admin = { authorization: `Bearer ${bevy.adminToken}` }
  const created = await app.inject({ method: 'POST', url: '/api/clouds', headers: admin, payload: { hosted: true, replicas: 1 } })
  assert.equal(created.statusCode, 201, created.body)
  const { key, token } = created.json() as { key: string, token: string }
  const put = (remoteAddress: string, headers: Record<string, string>, body = 'hello') =>
    app.inject({ method: 'PUT', url: `/c/${key}/note.txt`, remoteAddress, headers, payload: body })
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` })
  await waitFor('the node to take writes for its hosted cloud', async () => (await put('10.9.9.9', bearer(token))).statusCode === 201 ? true : undefined, 30_000, 100)

  // An unauthorized device key with a well-formed, correctly signed write: BAD_SIGNATURE.
  const device = keyPair()
  const signedHeaders = (body: string): Record<string, string> => {
    const sha256 = createHash('sha256').update(body).digest()
    const timeMs = Date.now()
    const message = signedWriteMessage({ method: 'PUT', cloud: parseKey(key, 'cloud key'), path: '/note.txt', sha256, timeMs })
    const signature = sign(message, device.secretKey)
    return { 'x-bevy-device': device.publicKey.toString('hex'), 'x-bevy-time': String(timeMs), 'x-bevy-content-sha256': sha256.toString('hex'), 'x-bevy-signature': signature.toString('hex') }
  }

  await t.test('wrong tokens and bad signatures share one budget; past it, the address gets 429', async () => {
    const counts = new Map<number, number>()
    for (let i = 0; i < burst * 3; i++) {
      const res = i % 2 === 0 ? await put('10.0.0.1', bearer(`wrong-${i}`)) : await put('10.0.0.1', signedHeaders(`body ${i}`), `body ${i}`)
      counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 429) {
        assert.equal(res.json().error.code, 'RATE_LIMITED')
        assert.equal(res.headers['retry-after'], String(windowMs / 1000), 'the clock has not moved: the whole window is left')
      }
    }
    assert.deepEqual(Object.fromEntries(counts), { 401: burst, 429: burst * 2 })
  })

  await t.test('while limited, the right token gets 429 too and nothing is written; other addresses write', async () => {
    nowMs += 30_000
    const right = await put('10.0.0.1', bearer(token), 'from the limited address')
    assert.equal(right.statusCode, 429, 'else the brake would still answer guesses, just more slowly')
    assert.equal(right.headers['retry-after'], String((windowMs - 30_000) / 1000))
    const other = await put('10.0.0.2', bearer(token), 'from another address')
    assert.equal(other.statusCode, 201)
    const served = await app.inject({ method: 'GET', url: `/c/${key}/note.txt` })
    assert.equal(served.body, 'from another address')
  })

  await t.test('the write brake leaves admin auth from the same address alone', async () => {
    const status = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: '10.0.0.1', headers: admin })
    assert.equal(status.statusCode, 200)
  })

  await t.test('a write that presents no credential is refused but not counted', async () => {
    for (let i = 0; i < burst * 2; i++) assert.equal((await put('10.0.0.3', {})).statusCode, 401)
    assert.equal((await put('10.0.0.3', bearer(token), 'no credential is no guess')).statusCode, 201)
  })

  await t.test('when the window ends, the right token writes again', async () => {
    nowMs += windowMs
    const res = await put('10.0.0.1', bearer(token), 'after the window')
    assert.equal(res.statusCode, 201)
    assert.equal((await app.inject({ method: 'GET', url: `/c/${key}/note.txt` })).body, 'after the window')
  })
})
