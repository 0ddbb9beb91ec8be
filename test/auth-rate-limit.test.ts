// Failed admin auth is braked per client address: after authFailureBurst failures in a window,
// the address gets 429 RATE_LIMITED with Retry-After, and what it presents is not even compared,
// the right token included, until the window ends. Successes are never counted. The window runs
// on a clock the test moves, so nothing here sleeps.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import pino from 'pino'
import { AuthFailureLimiter, limitKey } from '../router/auth-limit.js'
import { inProcessNode, loopbackDht } from './helpers.js'

const LIMIT_LINE = 'too many failed admin sign-ins'

test('admin auth rate limiting', async (t) => {
  const dht = await loopbackDht(t)
  let nowMs = 1_000_000
  // Every comparison reads the token first, so reads count comparisons.
  let tokenReads = 0
  const logLines: string[] = []
  const log = pino({ level: 'warn' }, new Writable({ write (chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done() } }))
  const { bevy, app } = await inProcessNode(t, dht, (node) => ({ adminToken: () => { tokenReads++; return node.adminToken }, log, authClock: { now: () => nowMs } }))
  const burst = bevy.config.authFailureBurst
  const windowMs = bevy.config.authFailureWindowMs

  const status = (remoteAddress: string, token?: string) => app.inject({
    method: 'GET', url: '/api/status', remoteAddress, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
  })
  const signIn = (remoteAddress: string, token: string) => app.inject({ method: 'POST', url: '/api/session', remoteAddress, payload: { token } })

  await t.test('of 10,000 wrong tokens from one address, only the first burst is compared; the rest get 429', async () => {
    const counts = new Map<number, number>()
    const readsBefore = tokenReads
    for (let i = 0; i < 10_000; i++) {
      const res = await status('10.0.0.1', `wrong-${i}`)
      counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 429 && i % 997 === 0) {
        assert.equal(res.json().error.code, 'RATE_LIMITED')
        assert.equal(res.headers['retry-after'], String(windowMs / 1000), 'the clock has not moved: the whole window is left')
      }
    }
    assert.deepEqual(Object.fromEntries(counts), { 401: burst, 429: 10_000 - burst })
    assert.equal(tokenReads - readsBefore, burst, 'limited attempts never reach the comparison')
  })

  await t.test('while limited, the right token gets 429 too, uncompared; so does signing in; health stays open', async () => {
    const readsBefore = tokenReads
    nowMs += 30_000
    const right = await status('10.0.0.1', bevy.adminToken)
    assert.equal(right.statusCode, 429, 'else the limit would still answer guesses, just more slowly')
    assert.equal(right.headers['retry-after'], String((windowMs - 30_000) / 1000))
    const session = await signIn('10.0.0.1', bevy.adminToken)
    assert.equal(session.statusCode, 429)
    assert.equal(session.json().error.code, 'RATE_LIMITED')
    assert.equal(tokenReads, readsBefore)
    assert.equal((await app.inject({ method: 'GET', url: '/api/health', remoteAddress: '10.0.0.1' })).statusCode, 200)
  })

  await t.test('other addresses are unaffected', async () => {
    assert.equal((await status('10.0.0.2', bevy.adminToken)).statusCode, 200)
    assert.equal((await status('10.0.0.2', 'wrong')).statusCode, 401)
    assert.equal((await status('10.0.0.2', bevy.adminToken)).statusCode, 200)
  })

  await t.test('successes are neither counted nor forgive failures', async () => {
    for (let i = 0; i < 500; i++) assert.equal((await status('10.0.0.3', bevy.adminToken)).statusCode, 200)
    for (let i = 0; i < burst; i++) {
      assert.equal((await status('10.0.0.3', `wrong-${i}`)).statusCode, 401, `failure ${i + 1} of the burst`)
      if (i < burst - 1) assert.equal((await status('10.0.0.3', bevy.adminToken)).statusCode, 200, 'a success between failures')
    }
    assert.equal((await status('10.0.0.3', bevy.adminToken)).statusCode, 429)
  })

  await t.test('wrong sign-ins count against the same budget as wrong tokens', async () => {
    for (let i = 0; i < burst; i++) assert.equal((await signIn('10.0.0.4', `wrong-${i}`)).statusCode, 401)
    assert.equal((await status('10.0.0.4', 'wrong')).statusCode, 429)
    assert.equal((await signIn('10.0.0.4', bevy.adminToken)).statusCode, 429)
  })

  await t.test('a request that presents no credential is refused but not counted', async () => {
    for (let i = 0; i < 5 * burst; i++) assert.equal((await status('10.0.0.5')).statusCode, 401)
    assert.equal((await status('10.0.0.5', bevy.adminToken)).statusCode, 200)
  })

  await t.test('an IPv6 client is limited by its /64', async () => {
    for (let i = 0; i < burst; i++) assert.equal((await status(`2001:db8:1:2::${i + 1}`, 'wrong')).statusCode, 401)
    assert.equal((await status('2001:db8:1:2:ffff::9', bevy.adminToken)).statusCode, 429, 'same /64')
    assert.equal((await status('2001:db8:1:3::1', bevy.adminToken)).statusCode, 200, 'another /64')
  })

  await t.test('the window ends on the limiter clock, and a new one starts from the next failure', async () => {
    nowMs += windowMs // 10.0.0.1's window began 30 s before the last move
    assert.equal((await status('10.0.0.1', bevy.adminToken)).statusCode, 200)
    assert.equal((await status('10.0.0.1', 'wrong')).statusCode, 401)
    assert.equal((await status('10.0.0.1', bevy.adminToken)).statusCode, 200)
  })

  await t.test('one warn line per address and window, naming no token', () => {
    const limited = logLines.filter((l) => l.includes(LIMIT_LINE)).map((l) => JSON.parse(l) as { level: number, address: string })
    assert.deepEqual(limited.map((l) => l.address).sort(), ['10.0.0.1', '10.0.0.3', '10.0.0.4', '2001:db8:1:2::/64'])
    assert.ok(limited.every((l) => l.level === 40), 'at warn')
    for (const line of logLines) {
      assert.doesNotMatch(line, /wrong-\d/)
      assert.ok(!line.includes(bevy.adminToken))
    }
  })

  await t.test('the node stays healthy', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/health' })).statusCode, 200)
    const res = await status('10.0.0.6', bevy.adminToken)
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().nodes[0].state, 'live')
  })
})

test('limit keys: IPv6 by /64, IPv4-mapped as IPv4', () => {
  assert.equal(limitKey('10.1.2.3'), '10.1.2.3')
  assert.equal(limitKey('::ffff:10.1.2.3'), '10.1.2.3')
  assert.equal(limitKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  assert.equal(limitKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
  assert.equal(limitKey('2001:0db8:0001:0002::'), '2001:db8:1:2::/64')
  assert.equal(limitKey('::1'), '0:0:0:0::/64')
  assert.equal(limitKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
  assert.equal(limitKey('1::2:3:4:5:6.7.8.9'), '1:0:2:3::/64', 'a dotted tail is two groups')
})

test('the limiter forgets the least recently failing addresses past its bound', () => {
  let nowMs = 0
  const limiter = new AuthFailureLimiter({ burst: 1, windowMs: 1000, clock: { now: () => nowMs }, maxAddresses: 3 })
  for (const address of ['a', 'b', 'c', 'd', 'e']) limiter.fail(address)
  assert.equal(limiter.size, 3)
  assert.equal(limiter.retryAfterMs('a'), 0, 'forgotten')
  assert.equal(limiter.retryAfterMs('e'), 1000)
  nowMs = 999
  assert.equal(limiter.retryAfterMs('e'), 1)
  nowMs = 1000
  assert.equal(limiter.retryAfterMs('e'), 0, 'the window ended')
  assert.equal(limiter.size, 2, 'an ended window is dropped when seen')
})
