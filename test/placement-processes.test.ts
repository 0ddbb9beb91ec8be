// Five node processes in zones a, a, b, b, c with 20 real clouds (drives seeded from this process): every node computes the same
// placement, replicas spread over three zones, a killed node moves only its own clouds, and a
// drain hands replicas over make-before-break.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import type { CloudInfo } from '../node/bevy.js'
import type { StatusReport } from '../node/status.js'
import { api, getJson, loopbackDht, type Member, nodeArgs, nodeProcess, readyWithin, seedDrives, tempDir, waitFor } from './helpers.js'

interface ZonedMember extends Pick<Member, 'id' | 'url' | 'token'> { zone: string }

/** Each cloud's targets as one node sees them. */
async function targetsSeenBy (m: ZonedMember, keys: string[]): Promise<Map<string, string[]>> {
  const { clouds } = await api<{ clouds: CloudInfo[] }>(m, 'GET', '/api/clouds')
  const byKey = new Map(clouds.map((c) => [c.key, c]))
  return new Map(keys.map((k) => [k, (byKey.get(k)?.placement ?? []).filter((r) => r.role === 'target').map((r) => r.node)]))
}

/** The placement all `members` agree on, with every target synced, once they do. */
async function agreedPlacement (members: ZonedMember[], keys: string[]): Promise<Map<string, string[]>> {
  return waitFor('all nodes to agree on a synced placement', async () => {
    const views = await Promise.all(members.map((m) => api<{ clouds: CloudInfo[] }>(m, 'GET', '/api/clouds')))
    const first = JSON.stringify(views[0]?.clouds)
    if (!views.every((v) => JSON.stringify(v.clouds) === first)) return undefined
    const clouds = views[0]?.clouds ?? []
    if (clouds.length !== keys.length) return undefined
    if (!clouds.every((c) => c.placement.length === 3 && c.placement.every((r) => r.role === 'target' && r.synced))) return undefined
    return targetsSeenBy(members[0] as ZonedMember, keys)
  }, 60_000, 200)
}

test('five processes agree on placement, lose a node, and drain one', { timeout: 240_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  const zones = ['a', 'a', 'b', 'b', 'c']
  const spawn = (i: number, extra: string[] = []) =>
    nodeProcess(t, nodeArgs(join(dir, `n${i}`), dht, ['--zone', zones[i] as string, '--rejoin-stable-ms', '0', ...extra]))
  const procs = [spawn(0)]
  const founder = await readyWithin(procs[0] as ReturnType<typeof spawn>)
  const token = async (storage: string) => (await readFile(join(storage, 'admin.token'), 'utf8')).trim()
  const first: ZonedMember = { id: founder.id, url: founder.url, token: await token(founder.storage), zone: 'a' }
  const { invite } = await api<{ invite: string }>(first, 'POST', '/api/invites', { uses: 4 })
  for (let i = 1; i < 5; i++) procs.push(spawn(i, ['--join', invite]))
  const readies = await Promise.all(procs.map((p) => readyWithin(p)))
  const members: ZonedMember[] = await Promise.all(readies.map(async (r, i) => ({ id: r.id, url: r.url, token: await token(r.storage), zone: zones[i] as string })))
  const zoneOf = new Map(members.map((m) => [m.id, m.zone]))
  await waitFor('every node to see five live nodes', async () => {
    const reports = await Promise.all(members.map((m) => getJson<StatusReport>(`${m.url}/api/status`, m.token)))
    return reports.every((r) => r.nodes.length === 5 && r.nodes.every((n) => n.state === 'live')) ? true : undefined
  })

  const { keys } = await seedDrives(t, dht, 20)
  for (const [i, key] of keys.entries()) await api(members[i % 5] as ZonedMember, 'POST', '/api/clouds', { key })
  const before = await agreedPlacement(members, keys)

  await t.test('every cloud has 3 replicas in 3 distinct zones, identical on every node', () => {
    for (const [key, targets] of before) {
      assert.equal(targets.length, 3, key)
      assert.equal(new Set(targets.map((n) => zoneOf.get(n))).size, 3, `${key} spans three zones`)
    }
  })

  const victim = members[3] as ZonedMember // zone b
  const survivors = members.filter((m) => m !== victim)
  await t.test('a killed node: after downAfterMs only its clouds move, and all nodes agree again', async () => {
    await (procs[3] as ReturnType<typeof spawn>).stop('SIGKILL')
    const after = await waitFor('placement without the killed node', async () => {
      const agreed = await agreedPlacement(survivors, keys)
      return [...agreed.values()].every((targets) => !targets.includes(victim.id)) ? agreed : undefined
    }, 60_000, 200)
    let moved = 0
    for (const [key, targets] of before) {
      const now = after.get(key) as string[]
      if (!targets.includes(victim.id)) assert.deepEqual(now, targets, `${key} did not have the node and must not move`)
      else {
        moved++
        for (const t of targets.filter((n) => n !== victim.id)) assert.ok(now.includes(t), 'its other replicas stay')
        assert.equal(new Set(now.map((n) => zoneOf.get(n))).size, 3, 'still three zones')
      }
    }
    assert.ok(moved > 0, 'the killed node had clouds')
  })

  await t.test('drain moves every replica off a node, keeping it until the successor is synced; undrain takes it back', async () => {
    const drained = survivors[0] as ZonedMember
    const held = (await targetsSeenBy(drained, keys))
    const hadIt = keys.filter((k) => (held.get(k) as string[]).includes(drained.id))
    assert.ok(hadIt.length > 0)
    await api(survivors[1] as ZonedMember, 'POST', `/api/nodes/${drained.id}/drain`)
    // Watch the transition: every cloud it had keeps at least three synced copies throughout.
    await waitFor('the drained node to hold nothing', async () => {
      const { clouds } = await api<{ clouds: CloudInfo[] }>(survivors[1] as ZonedMember, 'GET', '/api/clouds')
      for (const c of clouds) {
        if (!hadIt.includes(c.key)) continue
        const synced = c.placement.filter((r) => r.synced).length
        assert.ok(synced >= 3, `${c.key} kept ${synced} synced copies during the handoff`)
      }
      const status = await getJson<StatusReport>(`${drained.url}/api/status`, drained.token)
      const mine = status.nodes.find((n) => n.id === drained.id)
      return mine?.state === 'draining' && mine.clouds === 0 && clouds.every((c) => c.placement.every((r) => r.node !== drained.id)) ? true : undefined
    }, 60_000, 100)
    await api(survivors[1] as ZonedMember, 'DELETE', `/api/nodes/${drained.id}/drain`)
    await waitFor('the undrained node to take replicas again', async () => {
      const status = await getJson<StatusReport>(`${drained.url}/api/status`, drained.token)
      const mine = status.nodes.find((n) => n.id === drained.id)
      return mine?.state === 'live' && mine.clouds > 0 ? true : undefined
    }, 60_000, 200)
  })
})
