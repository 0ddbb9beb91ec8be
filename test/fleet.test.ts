// Fleet mode, in separate processes on a loopback DHT: machines started at the same moment with
// one secret form one bevy by themselves; another secret makes another bevy, and its nodes never
// get into the first one's view.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { Bevy } from '../node/bevy.js'
import { defaultConfig } from '../node/config.js'
import { fleetChoice, fleetInvite, fleetTopic } from '../node/fleet.js'
import { parseKey } from '../protocol/index.js'
import type { StatusReport } from '../node/status.js'
import type { CloudInfo } from '../node/bevy.js'
import { api, loopbackDht, memberOf, nodeArgs, nodeProcess, onTeardown, readyWithin, runBevy, seedDrives, tempDir, waitFor, type Member } from './helpers.js'

test('nodes sharing a secret form one bevy with no per-node step; another secret makes another', { timeout: 240_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  const secretA = 'fleet-secret-a-0123456789'
  const secretB = 'fleet-secret-b-9876543210'
  const fleets = [...Array(6).fill(secretA), ...Array(2).fill(secretB)] as string[]
  // All at the same moment: no node is told who founds.
  const procs = fleets.map((secret, i) => nodeProcess(t, nodeArgs(join(dir, `n${i}`), dht, ['--secret', secret, '--rejoin-stable-ms', '0'])))
  const ready = await Promise.all(procs.map((p) => readyWithin(p, 120_000)))
  const members: Member[] = await Promise.all(ready.map(memberOf))
  const a = members.slice(0, 6)
  const b = members.slice(6)

  const agreed = async (group: Member[]) => {
    const reports = await Promise.all(group.map((m) => api<StatusReport>(m, 'GET', '/api/status')))
    const bevies = new Set(reports.map((r) => r.bevy))
    const live = reports.every((r) => r.nodes.length === group.length && r.nodes.every((n) => n.state === 'live'))
    return bevies.size === 1 && live ? reports : undefined
  }
  const reportsA = await waitFor('the six nodes with secret A to agree on one bevy and see six live nodes', () => agreed(a), 90_000, 500)
  const reportsB = await waitFor('the two nodes with secret B to agree on one bevy and see two live nodes', () => agreed(b), 90_000, 500)
  assert.notEqual(reportsA[0]?.bevy, reportsB[0]?.bevy, 'two secrets, two bevies')
  const idsA = new Set(a.map((m) => m.id))
  for (const report of reportsA) assert.ok(report.nodes.every((n) => idsA.has(n.id)), 'no node of the other fleet is in the view')

  // The secret is in no file the node writes and in no log line.
  for (const [i, proc] of procs.entries()) assert.ok(!proc.output().includes(fleets[i] as string), 'the secret is not logged')
  const short = await runBevy(['start', '--storage', join(dir, 'short'), '--bootstrap', dht.bootstrap, '--secret', 'tiny'])
  assert.equal(short.code, 2, 'a too-short secret is refused as bad input')
  const empty = await runBevy(['start', '--storage', join(dir, 'empty'), '--bootstrap', dht.bootstrap, '--secret', ''])
  assert.equal(empty.code, 2, 'an empty secret is refused, not taken for none')
})

test('a node without a bevy joins the smallest bevy a fleet peer names, else founds only when no smaller peer still looks', () => {
  const [low, mid, high] = ['11'.repeat(32), '55'.repeat(32), 'ee'.repeat(32)]
  const bevyX = Buffer.alloc(32, 9)
  const bevyY = Buffer.alloc(32, 3)
  assert.deepEqual(fleetChoice(mid, new Map()), { kind: 'found' }, 'alone: found')
  assert.deepEqual(fleetChoice(mid, new Map([[high as string, null]])), { kind: 'found' }, 'only larger peers look: this one founds')
  assert.deepEqual(fleetChoice(mid, new Map([[low as string, null]])), { kind: 'wait' }, 'a smaller peer looks: it founds, this one waits')
  assert.deepEqual(fleetChoice(mid, new Map([[low as string, null], [high as string, bevyX]])), { kind: 'join', bevy: bevyX })
  assert.deepEqual(fleetChoice(mid, new Map([[low as string, bevyX], [high as string, bevyY]])), { kind: 'join', bevy: bevyY }, 'the smallest bevy wins')
})

test('the fleet invite is the same for every holder of the secret and another for any other secret', () => {
  const bevy = Buffer.alloc(32, 7)
  const one = fleetInvite('secret-number-one', bevy)
  assert.deepEqual(fleetInvite('secret-number-one', bevy).id, one.id)
  assert.notDeepEqual(fleetInvite('secret-number-two', bevy).id, one.id)
  assert.notDeepEqual(fleetInvite('secret-number-one', Buffer.alloc(32, 8)).id, one.id)
  assert.notDeepEqual(fleetTopic('secret-number-one'), fleetTopic('secret-number-two'))
})

test('two bevies founded apart merge into the one with the smaller key when they share a secret, keeping every cloud', { timeout: 240_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  const { keys } = await seedDrives(t, dht, 2)
  const secret = 'fleet-merge-secret-42'
  const fast = ['--rejoin-stable-ms', '0', '--sync-progress-interval-ms', '200']
  // Two bevies of one node each, each with a cloud of its own: as if two fleet nodes had founded at the same moment.
  const storages = [join(dir, 'x'), join(dir, 'y')]
  const founders = storages.map((s) => nodeProcess(t, nodeArgs(s, dht, fast)))
  const before = await Promise.all(founders.map(async (p) => await memberOf(await readyWithin(p))))
  for (const [i, m] of before.entries()) await api(m, 'POST', '/api/clouds', { key: keys[i], replicas: 1 })
  const bevies = await Promise.all(before.map(async (m) => (await api<StatusReport>(m, 'GET', '/api/status')).bevy))
  assert.notEqual(bevies[0], bevies[1])
  await Promise.all(founders.map((p) => p.stop('SIGTERM')))

  // Back with the fleet's secret: they find each other, and the larger bevy's node moves over.
  const procs = storages.map((s) => nodeProcess(t, nodeArgs(s, dht, [...fast, '--secret', secret])))
  const members = await Promise.all(procs.map(async (p) => await memberOf(await readyWithin(p))))
  const survivor = [...bevies].sort((p, q) => Buffer.compare(parseKey(p), parseKey(q)))[0]
  await waitFor('both nodes in the bevy with the smaller key, both live', async () => {
    const reports = await Promise.all(members.map((m) => api<StatusReport>(m, 'GET', '/api/status')))
    return reports.every((r) => r.bevy === survivor && r.nodes.length === 2 && r.nodes.every((n) => n.state === 'live')) ? true : undefined
  }, 90_000, 500)
  for (const [i, key] of keys.entries()) {
    await waitFor(`cloud ${i} registered in the surviving bevy, placed and synced`, async () => {
      const info = await api<CloudInfo>(members[0]!, 'GET', `/api/clouds/${key}`).catch(() => undefined)
      return info !== undefined && info.placement.some((r) => r.role === 'target' && r.synced) ? true : undefined
    }, 90_000, 500)
    for (const m of members) {
      // The other node's view may be a moment behind members[0]'s: until it sees the synced
      // replica it rightly answers 503 with Retry-After, which is the only answer retried here.
      const text = await waitFor(`${m.url} to serve cloud ${i}`, async () => {
        const res = await fetch(`${m.url}/c/${key}/index.html`)
        const body = await res.text()
        return res.status === 503 && res.headers.get('retry-after') !== null ? undefined : body
      }, 30_000, 200)
      assert.equal(text, `<h1>cloud ${i}</h1>`, `${m.url} serves cloud ${i}`)
    }
  }
})

test('a wrong secret gets no member connection and no view; a fleet node restarted without its secret stays in its bevy', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const [host, port] = dht.bootstrap.split(':')
  const right = 'fleet-secret-right-0123'
  const start = async (secret: string | null, storage?: string): Promise<Bevy> => {
    const bevy = new Bevy({
      config: defaultConfig({
        storage: storage ?? await tempDir(t),
        bootstrap: [{ host: host as string, port: Number(port) }],
        secret,
        heartbeatIntervalMs: 60_000,
        suspectAfterMs: 120_000,
        downAfterMs: 240_000
      }),
      url: 'http://127.0.0.1:1'
    })
    onTeardown(t, () => bevy.close())
    await bevy.ready()
    return bevy
  }
  const hex = (keys: Buffer[]) => keys.map((k) => k.toString('hex')).sort()
  const nodesIn = (n: Bevy) => hex(n.snapshot.nodes.map((x) => x.record.nodeId))
  const meshed = (n: Bevy, other: Bevy) => n.memberPeers.some((p) => p.equals(other.id))

  // One after the other: concurrent founders merge by restarting a process, which the process tests cover.
  const a = await start(right)
  const b = await start(right)
  await waitFor('the two fleet nodes in one bevy, meshed', () =>
    a.key.equals(b.key) && meshed(a, b) && meshed(b, a) && nodesIn(a).length === 2 && nodesIn(b).length === 2 ? true : undefined, 60_000, 200)

  const wrong = await start('fleet-secret-wrong-9876')
  // A refusal leaves nothing to wait on: give the wrong node a few seconds in which it could get in.
  await new Promise((resolve) => setTimeout(resolve, 4000))
  assert.ok(!wrong.key.equals(a.key), 'the wrong secret founds a bevy of its own rather than joining')
  assert.deepEqual(nodesIn(wrong), hex([wrong.id]), 'its view holds only itself')
  for (const n of [a, b]) {
    assert.ok(!meshed(n, wrong) && !meshed(wrong, n), 'no member connection either way')
    assert.deepEqual(nodesIn(n), hex([a.id, b.id]), 'the fleet\'s view never names it')
  }

  // Restarted with no secret at all, b is still a member of the same bevy.
  const storageB = b.config.storage
  await b.close()
  const again = await start(null, storageB)
  assert.ok(again.key.equals(a.key), 'the same bevy after a restart without --secret')
  await waitFor('a and the restarted b meshed again', () => meshed(a, again) && meshed(again, a) ? true : undefined, 60_000, 200)
  assert.deepEqual(nodesIn(again), hex([a.id, b.id]))
})
