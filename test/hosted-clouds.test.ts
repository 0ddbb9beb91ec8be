// Hosted clouds over real node processes: a write at one replica is read at the others, a race
// on one path ends with the same winner everywhere, and refused writes change nothing.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { CloudInfo } from '../node/bevy.js'
import { sign, keyPair } from 'hypercore-crypto'
import { silentLogger } from '../node/log.js'
import { OwnerDevice } from '../node/owner/owner-device.js'
import { formatKey, parseKey, signedWriteMessage } from '../protocol/index.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { api, loopbackDht, onTeardown, runBevy, spawnBevy, startBevy, tempDir, waitFor, type Member } from './helpers.js'

interface Created extends CloudInfo { token: string }

/** The nodes that hold a synced writable copy of the cloud, as `m` sees it. */
async function syncedTargets (m: Member, key: string, count: number): Promise<string[] | undefined> {
  const info = await api<CloudInfo>(m, 'GET', `/api/clouds/${key}`)
  const targets = info.placement.filter((r) => r.role === 'target' && r.synced).map((r) => r.node)
  return targets.length === count && info.placement.length === count ? targets : undefined
}

/**
 * A hop header naming a node outside the bevy: a node that holds a synced copy then answers
 * itself (a request that already hopped is not sent on), so a test reads or writes at that node.
 */
const AT_THIS_NODE = { 'x-bevy-hop': formatKey(randomBytes(32)), 'x-bevy-route': 'proxy' }

/** A node's log lines that match, the last few thousand characters: what a failing test prints. */
function logLines (node: { output: () => string }, pattern: RegExp): string {
  return node.output().split('\n').filter((l) => pattern.test(l)).join('\n').slice(-4000)
}

/** Reads a file from one node's own copy: its status and bytes. */
async function readAt (m: Member, key: string, path: string): Promise<{ status: number, body: Buffer }> {
  const res = await fetch(`${m.url}/c/${key}${path}`, { redirect: 'manual', headers: AT_THIS_NODE })
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 503) {
    assert.equal(res.headers.get('x-bevy-node'), m.id)
    assert.equal(res.headers.get('x-bevy-replica'), null, 'answered by the node itself')
  }
  return { status: res.status, body }
}

async function put (m: Member, key: string, path: string, body: Buffer, token: string): Promise<Response> {
  try {
    return await fetch(`${m.url}/c/${key}${path}`, { method: 'PUT', body: new Uint8Array(body), headers: { authorization: `Bearer ${token}`, ...AT_THIS_NODE } })
  } catch (err) {
    // fetch's own message says nothing; the cause says whether the socket was refused, reset or closed.
    throw new Error(`PUT ${m.url}${path}: ${String(err)} (${String((err as { cause?: unknown }).cause)})`, { cause: err })
  }
}

test('hosted cloud: writes at any replica are read at every other, races converge, refused writes change nothing', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const { members } = await startBevy(t, dht, 3, () => ['--max-hosted-file-bytes', String(64 * 1024)])
  const [a, b, c] = members as [Member, Member, Member]
  const created = await api<Created>(a, 'POST', '/api/clouds', { hosted: true, replicas: 3 })
  assert.equal(created.hosted, true)
  assert.ok(created.token.length >= 32)
  const key = created.key
  await waitFor('three synced replicas seen by every node', async () => {
    const seen = await Promise.all(members.map((m) => syncedTargets(m, key, 3)))
    return seen.every((s) => s !== undefined) ? true : undefined
  }, 60_000, 200)

  await t.test('a file written at A is served byte for byte by B and C', async () => {
    const body = randomBytes(20_000)
    const res = await put(a, key, '/docs/hello.bin', body, created.token)
    assert.equal(res.status, 201, await res.clone().text())
    const written = await res.json() as { size: number, sha256: string }
    assert.equal(written.size, body.length)
    assert.equal(written.sha256, createHash('sha256').update(body).digest('hex'))
    for (const m of [b, c]) {
      const got = await waitFor(`${m.id} to serve the file`, async () => {
        const r = await readAt(m, key, '/docs/hello.bin')
        return r.status === 200 && r.body.equals(body) ? r : undefined
      }, 30_000, 50)
      assert.ok(got.body.equals(body))
    }
  })

  await t.test('concurrent writes to one path at A and B end with the same winner on every replica', async () => {
    const fromA = Buffer.from('written at A')
    const fromB = Buffer.from('written at B')
    const [ra, rb] = await Promise.all([put(a, key, '/race.txt', fromA, created.token), put(b, key, '/race.txt', fromB, created.token)])
    assert.equal(ra.status, 201)
    assert.equal(rb.status, 201)
    const winner = await waitFor('every replica to serve the same version of /race.txt', async () => {
      const reads = await Promise.all(members.map((m) => readAt(m, key, '/race.txt')))
      if (!reads.every((r) => r.status === 200)) return undefined
      const first = reads[0]!.body
      return reads.every((r) => r.body.equals(first)) ? first : undefined
    }, 30_000, 50)
    assert.ok(winner.equals(fromA) || winner.equals(fromB))
    // The loser stays reachable on every replica, whichever order that replica saw the two in.
    const loser = winner.equals(fromA) ? fromB : fromA
    for (const m of members) {
      const listed = await waitFor(`${m.id} to list both writes of /race.txt`, async () => {
        const res = await fetch(`${m.url}/c/${key}/race.txt?writes`, { headers: AT_THIS_NODE })
        const body = await res.json() as { writes: Array<{ id: string, current: boolean, sha256: string }> }
        return res.status === 200 && body.writes.length === 2 ? body.writes : undefined
      }, 30_000, 50)
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
      assert.deepEqual(listed.map((w) => [w.sha256, w.current]).sort(), [[sha(winner), true], [sha(loser), false]].sort())
      const lost = listed.find((w) => !w.current)!
      const res = await fetch(`${m.url}/c/${key}/race.txt?write=${lost.id}`, { headers: AT_THIS_NODE })
      assert.equal(res.status, 200)
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(loser), `${m.id} serves the losing write by its id`)
    }
  })

  await t.test('a bad token, an oversized body and a bad path get a 4xx and write nothing', async () => {
    const bad = await put(a, key, '/nope.txt', Buffer.from('x'), 'not-the-token')
    assert.equal(bad.status, 401)
    assert.equal((await bad.json() as { error: { code: string } }).error.code, 'BAD_CLOUD_TOKEN')
    const none = await fetch(`${a.url}/c/${key}/nope.txt`, { method: 'PUT', body: 'x', headers: AT_THIS_NODE })
    assert.equal(none.status, 401)
    const big = await put(a, key, '/big.bin', randomBytes(64 * 1024 + 1), created.token)
    assert.equal(big.status, 413)
    const dir = await put(a, key, '/dir/', Buffer.from('x'), created.token)
    assert.equal(dir.status, 400)
    for (const m of members) {
      for (const path of ['/nope.txt', '/big.bin']) assert.equal((await readAt(m, key, path)).status, 404)
    }
    const metrics = await (await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${a.token}` } })).text()
    const count = (result: string) => Number(new RegExp(`^bevy_hosted_writes_total\\{result="${result}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN)
    assert.ok(count('written') >= 2, 'the writes A took are counted')
    assert.ok(count('refused') >= 4, 'and so are the ones it refused')
  })

  await t.test('DELETE removes a file on every replica', async () => {
    const res = await fetch(`${c.url}/c/${key}/docs/hello.bin`, { method: 'DELETE', headers: { authorization: `Bearer ${created.token}`, ...AT_THIS_NODE } })
    assert.equal(res.status, 204)
    await waitFor('every replica to drop the file', async () => {
      const reads = await Promise.all(members.map((m) => readAt(m, key, '/docs/hello.bin')))
      return reads.every((r) => r.status === 404) ? true : undefined
    }, 30_000, 50)
  })
})

test('hosted cloud: a replica killed during a stream of writes is replaced, its successor becomes a writer, and no acknowledged write is lost', { timeout: 240_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const { members, procs } = await startBevy(t, dht, 4, () => ['--rejoin-stable-ms', '0'])
  const created = await api<Created>(members[0]!, 'POST', '/api/clouds', { hosted: true, replicas: 3 })
  const key = created.key
  const targets = await waitFor('three synced replicas', () => syncedTargets(members[0]!, key, 3), 60_000, 200)
  const replicas = members.filter((m) => targets.includes(m.id))
  const spare = members.find((m) => !targets.includes(m.id))!
  const victim = replicas[2]!

  // A client keeps writing at all three replicas in turn while one of them is killed: the
  // victim's writes fail from then on, and the ones it acknowledged before must survive it.
  const acknowledged = new Map<string, Buffer>()
  const ackedBy = new Map<string, string>()
  let failures = 0
  let stop = false
  const stream = (async () => {
    for (let i = 0; !stop; i++) {
      const at = replicas[i % 3]!
      const path = `/stream/${i}.bin`
      const body = randomBytes(512 + (i % 7) * 1000)
      const res = await put(at, key, path, body, created.token).catch(() => null)
      if (res !== null && res.status === 201) { acknowledged.set(path, body); ackedBy.set(path, at.id) }
      else failures++
      await res?.arrayBuffer().catch(() => {})
    }
  })()
  await waitFor('some writes before the kill', () => acknowledged.size >= 20 ? true : undefined, 30_000, 20)
  await procs[members.indexOf(victim)]!.stop('SIGKILL')
  await waitFor('some writes after the kill', () => acknowledged.size >= 60 ? true : undefined, 60_000, 20)

  const survivors = members.filter((m) => m !== victim)
  // On a failure: who is who (node logs name nodes in hex), and each survivor's log lines that match.
  const logsOf = (pattern: RegExp): void => {
    const role = (m: Member): string => m === victim ? 'victim' : m === spare ? 'spare' : 'replica'
    t.diagnostic(`nodes: ${members.map((m) => `${m.id.slice(0, 6)}=${parseKey(m.id).toString('hex').slice(0, 6)} ${role(m)}${m === members[0] ? ' creator' : ''}`).join(', ')}`)
    for (const m of survivors) {
      t.diagnostic(`${m.id.slice(0, 6)} log: ${logLines(procs[members.indexOf(m)]!, pattern)}`)
    }
  }
  await waitFor('the spare to be a synced replica in place of the killed one', async () => {
    const info = await api<CloudInfo>(survivors[0]!, 'GET', `/api/clouds/${key}`)
    const synced = info.placement.filter((r) => r.role === 'target' && r.synced).map((r) => r.node)
    return synced.includes(spare.id) && !synced.includes(victim.id) && synced.length === 3 ? true : undefined
  }, 90_000, 200)
  stop = true
  await stream
  t.diagnostic(`acknowledged ${acknowledged.size} writes, ${failures} not acknowledged`)

  for (const m of survivors) {
    await waitFor(`${m.id} to serve every acknowledged write`, async () => {
      for (const [path, body] of acknowledged) {
        const r = await readAt(m, key, path)
        if (r.status !== 200 || !r.body.equals(body)) return undefined
      }
      return true
    }, 60_000, 200).catch(async (err) => {
      // What each node's view says of every copy (progress included), and who created the cloud:
      // a rare failure here (the spare reported synced yet served none of the writes) is not understood yet.
      t.diagnostic(`creator ${members[0]!.id.slice(0, 6)} is ${targets.includes(members[0]!.id) ? 'a first target' : 'the spare'}`)
      for (const n of survivors) t.diagnostic(`${n.id} sees ${JSON.stringify((await api<CloudInfo>(n, 'GET', `/api/clouds/${key}`)).placement).slice(0, 2000)}`)
      for (const n of survivors) {
        const missing: string[] = []
        for (const [path, body] of acknowledged) {
          const r = await readAt(n, key, path).catch((e: Error) => ({ status: -1, body: Buffer.from(e.message) }))
          if (r.status !== 200 || !r.body.equals(body)) missing.push(`${path}:${r.status}:${ackedBy.get(path)?.slice(0, 6)}`)
        }
        t.diagnostic(`${n.id.slice(0, 6)} (victim ${victim.id.slice(0, 6)}, spare ${spare.id.slice(0, 6)}) misses ${missing.length}: ${missing.slice(0, 8).join(' ')}`)
      }
      logsOf(/"level":[4-6]\d|writers updated|purged|hosted/)
      throw err
    })
  }
  // The spare is a writer now: a write there is taken and reaches the others.
  const late = randomBytes(3000)
  const res = await put(spare, key, '/late.bin', late, created.token)
  if (res.status !== 201) logsOf(/writers updated|writable|NOT_WRITABLE/)
  assert.equal(res.status, 201, await res.text())
  for (const m of survivors) {
    await waitFor(`${m.id} to serve the spare's write`, async () => {
      const r = await readAt(m, key, '/late.bin')
      return r.status === 200 && r.body.equals(late) ? true : undefined
    }, 30_000, 50)
  }
})

test('hosted cloud: an owner device asks to write, is approved, writes over P2P and the bevy serves it; after deauthorize its writes are ignored', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const { members, procs } = await startBevy(t, dht, 2)
  const created = await api<Created>(members[0]!, 'POST', '/api/clouds', { hosted: true, replicas: 2 })
  const { key, token } = created
  const base = created.base as string
  await waitFor('two synced replicas seen by every node', async () => {
    const seen = await Promise.all(members.map((m) => syncedTargets(m, key, 2)))
    return seen.every((s) => s !== undefined) ? true : undefined
  }, 60_000, 200)

  const dir = await tempDir(t)
  const ownerStorage = join(dir, 'owner')
  const deviceArgs = ['--owner-storage', ownerStorage]
  const keyRun = await runBevy(['device', 'key', base, ...deviceArgs])
  assert.equal(keyRun.code, 0, keyRun.stderr)
  const device = keyRun.stdout.trim()

  // The device asks to write; a replica keeps the request until an operator approves it.
  const asking = spawnBevy(['device', 'request', base, '--label', 'test laptop', ...deviceArgs, '--bootstrap', dht.bootstrap, '--timeout', '60s'])
  onTeardown(t, () => { asking.child.kill('SIGKILL') })
  const holder = await waitFor('a replica to list the device\'s request', async () => {
    for (const m of members) {
      const { requests } = await api<{ requests: Array<{ device: string, label: string }> }>(m, 'GET', `/api/clouds/${key}/requests`)
      if (requests.some((r) => r.device === device && r.label === 'test laptop')) return m
    }
    return undefined
  }, 30_000, 100)
  const approved = await runBevy(['cloud', 'approve', key, device, '--url', holder.url, '--token', holder.token])
  assert.equal(approved.code, 0, approved.stderr)
  const asked = await asking.done
  assert.equal(asked.code, 0, asked.stderr)
  assert.match(asked.stdout, /authorized/)
  assert.deepEqual((await api<{ devices: string[] }>(members[1]!, 'GET', `/api/clouds/${key}/devices`)).devices, [device])
  assert.deepEqual((await api<{ requests: unknown[] }>(holder, 'GET', `/api/clouds/${key}/requests`)).requests, [], 'an approved request is no longer pending')

  const first = Buffer.from('written by the owner\'s device')
  await writeFile(join(dir, 'first.txt'), first)
  const devicePut = await runBevy(['device', 'put', base, join(dir, 'first.txt'), '/from-device.txt', ...deviceArgs, '--bootstrap', dht.bootstrap, '--timeout', '60s'])
  assert.equal(devicePut.code, 0, devicePut.stderr)
  assert.equal((JSON.parse(devicePut.stdout) as { size: number }).size, first.length)
  for (const m of members) {
    await waitFor(`${m.id} to serve the device's file`, async () => {
      const r = await readAt(m, key, '/from-device.txt')
      return r.status === 200 && r.body.equals(first) ? true : undefined
    }, 30_000, 50)
  }

  // The same device writes over HTTP, signing with its writer core's key pair.
  const viaHttp = Buffer.from('signed and sent over HTTP')
  await writeFile(join(dir, 'via-http.txt'), viaHttp)
  const signedPut = await runBevy(['device', 'put', base, join(dir, 'via-http.txt'), '/signed/via-http.txt', ...deviceArgs, '--via', members[1]!.url, '--cloud', key])
  assert.equal(signedPut.code, 0, signedPut.stderr)
  for (const m of members) {
    await waitFor(`${m.id} to serve the signed write`, async () => {
      const r = await readAt(m, key, '/signed/via-http.txt')
      return r.status === 200 && r.body.equals(viaHttp) ? true : undefined
    }, 30_000, 50)
  }
  // A body other than the one signed, a signature by a key nobody authorized, and a stale time are refused, and write nothing.
  const owner = new OwnerDevice({ storage: ownerStorage, base: parseKey(base, 'base key'), bootstrap: null, online: false, log: silentLogger() })
  await owner.ready()
  const pair = await owner.signingKeyPair()
  await owner.close()
  const signedFetch = (path: string, body: Buffer, signedBody: Buffer, keyPair: { publicKey: Buffer, secretKey: Buffer }, timeMs = Date.now()) => {
    const sha256 = createHash('sha256').update(signedBody).digest()
    const signature = sign(signedWriteMessage({ method: 'PUT', cloud: parseKey(key, 'cloud key'), path, sha256, timeMs }), keyPair.secretKey)
    return fetch(`${members[0]!.url}/c/${key}${path}`, {
      method: 'PUT',
      body: new Uint8Array(body),
      headers: { ...AT_THIS_NODE, 'x-bevy-device': formatKey(keyPair.publicKey), 'x-bevy-time': String(timeMs), 'x-bevy-content-sha256': sha256.toString('hex'), 'x-bevy-signature': signature.toString('base64') }
    })
  }
  const refusals = [
    await signedFetch('/signed/swapped.txt', Buffer.from('not what was signed'), Buffer.from('what was signed'), pair),
    await signedFetch('/signed/stranger.txt', Buffer.from('x'), Buffer.from('x'), keyPair()),
    await signedFetch('/signed/stale.txt', Buffer.from('x'), Buffer.from('x'), pair, Date.now() - 3_600_000)
  ]
  for (const res of refusals) {
    assert.equal(res.status, 401)
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'BAD_SIGNATURE')
  }
  assert.equal((await signedFetch('/signed/ok.txt', Buffer.from('ok'), Buffer.from('ok'), pair)).status, 201, 'the same device with a true signature is taken')
  for (const path of ['/signed/swapped.txt', '/signed/stranger.txt', '/signed/stale.txt']) assert.equal((await readAt(members[0]!, key, path)).status, 404)

  await api(members[0]!, 'DELETE', `/api/clouds/${key}/devices/${device}`)
  const afterHttp = await signedFetch('/signed/after.txt', Buffer.from('x'), Buffer.from('x'), pair)
  assert.equal(afterHttp.status, 401, 'a deauthorized device\'s signed write is refused')
  // The device may learn of its removal first (then it refuses to write), or write anyway: either
  // way the bevy must not take what it writes from now on.
  await writeFile(join(dir, 'second.txt'), Buffer.from('written after deauthorize'))
  const late = await runBevy(['device', 'put', base, join(dir, 'second.txt'), '/after-deauthorize.txt', ...deviceArgs, '--bootstrap', dht.bootstrap, '--timeout', '5s'])
  t.diagnostic(`device write after deauthorize: exit ${late.code} ${late.stderr.trim().split('\n').pop() ?? ''}`)
  const marker = Buffer.from('written with the token after the device was removed')
  assert.equal((await put(members[0]!, key, '/marker.txt', marker, token)).status, 201)
  for (const m of members) {
    await waitFor(`${m.id} to serve the marker`, async () => {
      const r = await readAt(m, key, '/marker.txt')
      return r.status === 200 && r.body.equals(marker) ? true : undefined
    }, 30_000, 50)
    for (let i = 0; i < 10; i++) {
      const status = (await readAt(m, key, '/after-deauthorize.txt')).status
      if (status !== 404) for (const [j, p] of procs.entries()) t.diagnostic(`node ${j} log: ${logLines(p, /writers updated|device/)}`)
      assert.equal(status, 404, 'a removed device\'s write is not served')
    }
    assert.equal((await readAt(m, key, '/from-device.txt')).status, 200, 'what it wrote while authorized stays')
  }
})
