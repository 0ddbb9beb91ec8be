// Personal clouds end to end, all separate processes on a loopback DHT: an owner pushes a folder,
// three replicas sync it and serve identical bytes, follow a new version, keep the cloud alive
// without the owner when a replica dies, and a node that leaves a cloud's set purges its copy.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import type { CloudInfo } from '../node/bevy.js'
import type { StatusReport } from '../node/status.js'
import { api, getJson, loopbackDht, type Member, nodeArgs, nodeProcess, readyWithin, runBevy, tempDir, waitFor, writeFiles } from './helpers.js'

test('a pushed cloud replicates, follows versions, survives a lost replica and purges on handoff', { timeout: 300_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  const fast = ['--rejoin-stable-ms', '0', '--sync-progress-interval-ms', '200', '--disk-usage-interval-ms', '300']
  const spawn = (i: number, extra: string[] = []) => nodeProcess(t, nodeArgs(join(dir, `n${i}`), dht, [...fast, ...extra]))
  const procs = [spawn(0)]
  const token = async (storage: string) => (await readFile(join(storage, 'admin.token'), 'utf8')).trim()
  const founder = await readyWithin(procs[0]!)
  let first: Member = { id: founder.id, url: founder.url, token: await token(founder.storage), storage: founder.storage }
  const { invite } = await api<{ invite: string }>(first, 'POST', '/api/invites', { uses: 3 })
  for (let i = 1; i < 4; i++) procs.push(spawn(i, ['--join', invite]))
  const members: Member[] = await Promise.all(procs.map(async (p) => {
    const r = await readyWithin(p)
    return { id: r.id, url: r.url, token: await token(r.storage), storage: r.storage }
  }))
  const byId = new Map(members.map((m) => [m.id, m]))
  first = members[0]! // the same object placement results map to, so identity comparisons hold

  // The owner's folder: a page, an image and a nested folder with a few MB of data.
  const site = join(dir, 'site')
  const files = new Map<string, Buffer>([
    ['index.html', Buffer.from('<h1>version one</h1>')],
    ['img/pic.png', randomBytes(50_000)],
    ['nested/deep/data.bin', randomBytes(6 * 1024 * 1024)]
  ])
  await writeFiles(site, files)
  // The second push leaves out --bootstrap: it must take the local node's (from node.json).
  const push = (bootstrap: string[] = ['--bootstrap', dht.bootstrap]) =>
    runBevy(['push', site, '--storage', first.storage, '--owner-storage', join(dir, 'owner'), ...bootstrap, '--wait', '--timeout', '2m'])

  const pushed = await push()
  assert.equal(pushed.code, 0, pushed.stderr)
  const [key, url] = pushed.stdout.trim().split('\n') as [string, string]
  assert.match(url, new RegExp(`/c/${key}/$`))
  const added = await runBevy(['cloud', 'add', key, '--replicas', '3', '--storage', first.storage])
  assert.equal(added.code, 0, added.stderr)

  const syncedTargets = async (via: Member, version?: number): Promise<Member[] | undefined> => {
    const info = await api<CloudInfo>(via, 'GET', `/api/clouds/${key}`)
    const targets = info.placement.filter((r) => r.role === 'target')
    const ready = targets.filter((r) => r.synced && r.state === 'synced' && (version === undefined || r.version >= version))
    return targets.length === 3 && ready.length === 3 ? targets.map((r) => byId.get(r.node)!) : undefined
  }

  let replicas: Member[] = []
  await t.test('all three placed replicas reach 100% and serve bytes identical to the owner\'s', async () => {
    replicas = await waitFor('three synced replicas', () => syncedTargets(first), 60_000, 200)
    await assertServes(replicas, key, files)
    const outsider = members.find((m) => !replicas.includes(m))!
    // Sync state spreads through the shared view, so the outsider may learn it a moment after `first`;
    // until then it has no synced replica to send the client to and rightly answers 503.
    await waitFor('the outsider sees three synced replicas', () => syncedTargets(outsider), 30_000, 200)
    const res = await fetch(`${outsider.url}/c/${key}/index.html?x=1`, { redirect: 'manual' })
    assert.equal(res.status, 307, 'a node without a copy redirects')
    assert.match(res.headers.get('location') ?? '', new RegExp(`^http://127\\.0\\.0\\.1:\\d+/c/${key}/index\\.html\\?x=1$`))
    assert.equal(res.headers.get('x-bevy-node'), outsider.id)
  })

  await t.test('a new version reaches every replica and is served', async () => {
    files.set('index.html', Buffer.from('<h1>version two</h1>'))
    files.set('nested/new.txt', Buffer.from('added in version two'))
    files.delete('img/pic.png')
    await rm(join(site, 'img'), { recursive: true })
    await writeFiles(site, files)
    const again = await push([])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout.split('\n')[0], key, 'the same folder pushes to the same cloud')
    await assertServes(replicas, key, files)
    for (const r of replicas) assert.equal((await fetch(`${r.url}/c/${key}/img/pic.png`)).status, 404, 'the deleted file is gone')
  })

  // The owner is offline from here on: push has exited.
  const victim = replicas.find((m) => m !== first)!
  const victimProc = procs[members.indexOf(victim)]!
  await t.test('with the owner gone and a replica killed, a new node syncs from the survivors', async () => {
    await victimProc.stop('SIGKILL')
    const now = await waitFor('three synced replicas without the killed node', async () => {
      const set = await syncedTargets(first)
      return set !== undefined && !set.includes(victim) ? set : undefined
    }, 90_000, 200)
    const newcomer = now.find((m) => !replicas.includes(m))
    assert.ok(newcomer !== undefined, 'a node that had no copy took the replica')
    await assertServes(now, key, files)
    replicas = now
  })

  await t.test('a node that leaves a cloud\'s set hands over first, then purges its copy', async () => {
    const restarted = spawn(members.indexOf(victim))
    victim.url = (await readyWithin(restarted)).url // a new port: its announce must win over the old one
    const leaving = replicas.find((m) => m !== first)!
    await waitFor('disk use of the leaving node to be measured', async () => (await diskOf(leaving)).cloudBytes > 6_000_000 ? true : undefined, 30_000, 200)
    const before = await diskOf(leaving)
    await api(first, 'POST', `/api/nodes/${leaving.id}/drain`)
    await waitFor('the drained node to let go of the cloud', async () => {
      const info = await api<CloudInfo>(first, 'GET', `/api/clouds/${key}`)
      const syncedCopies = info.placement.filter((r) => r.synced).length
      assert.ok(syncedCopies >= 3, `the cloud kept ${syncedCopies} synced copies during the handoff`)
      return info.placement.every((r) => r.node !== leaving.id) ? true : undefined
    }, 90_000, 100)
    const after = await waitFor('the purge to show on disk', async () => {
      const d = await diskOf(leaving)
      // At least a third of the cloud's bytes come back. The size after is steady (9.19-9.31 MB
      // in seven runs); the size before is not (12.2-15.6 MB, by how much RocksDB had flushed and
      // compacted when it was read), and the rest of the store grows during the handoff. Half
      // the cloud's 6.3 MB (and before that a fixed 4 MB) missed once each by ~0.1 MB.
      if (d.cloudBytes === 0 && before.diskBytes - d.diskBytes > before.cloudBytes / 3) return d
      throw new Error(`disk use ${d.diskBytes} bytes (${before.diskBytes} before), cloud bytes ${d.cloudBytes}`)
    }, 30_000, 200)
    assert.ok(after.diskBytes < before.diskBytes, `disk use fell from ${before.diskBytes} to ${after.diskBytes}`)
    t.diagnostic(`purge: disk ${before.diskBytes} -> ${after.diskBytes} bytes, cloud bytes before ${before.cloudBytes}`)
    replicas = (await waitFor('three synced replicas again', () => syncedTargets(first), 60_000, 200))
    await assertServes(replicas, key, files)
  })

  async function diskOf (m: Member): Promise<{ diskBytes: number, cloudBytes: number }> {
    const status = await getJson<StatusReport>(`${m.url}/api/status`, m.token)
    return { diskBytes: status.node.diskBytes, cloudBytes: status.nodes.find((n) => n.id === m.id)?.cloudBytes ?? 0 }
  }
})

/**
 * Every replica serves every file itself, byte for byte. The hop header asks each node as a
 * forwarded request, which a node with a synced copy always serves (a plain request may go to a
 * less loaded replica instead).
 */
async function assertServes (replicas: Member[], key: string, files: Map<string, Buffer>): Promise<void> {
  for (const r of replicas) {
    for (const [path, bytes] of files) {
      const res = await fetch(`${r.url}/c/${key}/${path}`, { redirect: 'manual', headers: { 'x-bevy-hop': 'test' } })
      assert.equal(res.status, 200, `${r.url} ${path}`)
      assert.equal(res.headers.get('x-bevy-node'), r.id, 'served by the replica itself')
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), `${path} from ${r.url} is identical`)
    }
  }
}
