// Three nodes as separate processes: they form a bevy, judge a killed node suspect then down,
// take it back under the same id after a restart, and keep going when the founder dies.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import type { StatusReport } from '../node/status.js'
import { getJson, loopbackDht, nodeArgs, nodeProcess, readyWithin, tempDir, waitFor } from './helpers.js'

interface Member { storage: string, url: string, id: string, token: string }

async function statusOf (m: Member): Promise<StatusReport> {
  return getJson<StatusReport>(`${m.url}/api/status`, m.token)
}

function stateOf (report: StatusReport, id: string): string | undefined {
  return report.nodes.find((n) => n.id === id)?.state
}

function seqOf (report: StatusReport, id: string): number {
  return report.nodes.find((n) => n.id === id)?.heartbeatSeq ?? -1
}

test('a bevy of three processes: membership, failure detection, restart, founder death', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  const storages = ['a', 'b', 'c'].map((n) => join(dir, n))

  const founder = nodeProcess(t, nodeArgs(storages[0] as string, dht, ['--zone', 'za']))
  const first = await readyWithin(founder)
  assert.ok(first.invite !== null, 'the founder prints an invite')
  const token = (await readFile(join(first.storage, 'admin.token'), 'utf8')).trim()
  const second = await fetch(`${first.url}/api/invites`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
  const { invite: inviteC } = await second.json() as { invite: string }

  const procB = nodeProcess(t, nodeArgs(storages[1] as string, dht, ['--zone', 'zb', '--join', first.invite]))
  const procC = nodeProcess(t, nodeArgs(storages[2] as string, dht, ['--zone', 'zc', '--join', inviteC]))
  const [readyB, readyC] = await Promise.all([readyWithin(procB), readyWithin(procC)])
  const member = async (ready: { storage: string, url: string, id: string }): Promise<Member> =>
    ({ ...ready, token: (await readFile(join(ready.storage, 'admin.token'), 'utf8')).trim() })
  const a = await member(first)
  let b = await member(readyB)
  const c = await member(readyC)
  assert.equal(readyB.bevy, first.bevy)
  assert.equal(readyC.bevy, first.bevy)

  await t.test('all three list three live nodes with load, and heartbeats advance', async () => {
    const all = [a, b, c]
    const reports = await waitFor('every node to see three live nodes with load', async () => {
      const reports = await Promise.all(all.map(statusOf))
      const ok = reports.every((r) => r.nodes.length === 3 && r.nodes.every((n) => n.state === 'live' && n.load !== null && n.heartbeatSeq !== null))
      return ok ? reports : undefined
    })
    for (const r of reports) {
      assert.deepEqual(r.nodes.map((n) => n.id).sort(), [a.id, b.id, c.id].sort())
      for (const n of r.nodes) {
        assert.ok(n.load !== null && n.load.rssBytes > 0 && n.load.memFreeBytes > 0, 'load carries RSS and free memory')
        assert.ok(n.load.cpu >= 0 && n.load.cpu <= 1 && n.load.eventLoop >= 0 && n.load.eventLoop <= 1)
      }
    }
    // Connected peers prove they live by pings, whether or not a lease was written meanwhile
    // (in a full mesh a lease comes once per leaseMeshIntervalMs): every age stays fresh.
    // Past downAfterMs (3 s), every node is still live and was heard from within suspectAfterMs.
    await sleep(3500)
    await waitFor('every node to be live and heard from lately', async () => {
      const now = await Promise.all(all.map(statusOf))
      return now.every((r) => r.nodes.every((n) => n.state === 'live' && n.heartbeatAgeMs !== null && n.heartbeatAgeMs < 1500)) ? true : undefined
    })
  })

  await t.test('a SIGKILLed joiner goes suspect, then down, on both others', async () => {
    await procB.stop('SIGKILL')
    const seen = { suspect: new Set<string>(), down: new Set<string>() }
    await waitFor('both survivors to mark b down', async () => {
      for (const m of [a, c]) {
        const state = stateOf(await statusOf(m), b.id)
        if (state === 'suspect') seen.suspect.add(m.id)
        if (state === 'down') seen.down.add(m.id)
      }
      return seen.down.size === 2 ? true : undefined
    }, 30_000, 50)
    assert.equal(seen.suspect.size, 2, 'each survivor passed through suspect before down')
  })

  await t.test('restarted from its storage with no flags, it is live again under the same id', async () => {
    // No --join: the node finds its bevy in its storage.
    const again = nodeProcess(t, nodeArgs(storages[1] as string, dht))
    const ready = await readyWithin(again)
    assert.equal(ready.id, b.id)
    assert.equal(ready.bevy, first.bevy)
    assert.equal(ready.invite, null, 'a restart does not found a new bevy')
    b = await member(ready)
    // Live, and at its new address: an announce stamped from a view that lags the node's own
    // log would lose to the one it wrote before the kill, and routers would keep the old port.
    await waitFor('a and c to see b live again, at its new URL', async () => {
      const seen = await Promise.all([a, c].map(async (m) => (await statusOf(m)).nodes.find((n) => n.id === b.id)))
      return seen.every((n) => n?.state === 'live' && n.url === b.url) ? true : undefined
    })
  })

  await t.test('with the founder dead, the others renew their leases and stay live', async () => {
    const before = await Promise.all([b, c].map(statusOf))
    await founder.stop('SIGKILL')
    await waitFor('b and c to mark the founder down', async () => {
      const states = await Promise.all([b, c].map(async (m) => stateOf(await statusOf(m), a.id)))
      return states.every((s) => s === 'down') ? true : undefined
    })
    // Each lost its link to the founder, which from then on could only judge them by leases.
    await waitFor('b and c to see each other\'s leases renewed', async () => {
      const now = await Promise.all([b, c].map(statusOf))
      const ok = [0, 1].every((i) => [b, c].every((m) => seqOf(now[i] as StatusReport, m.id) > seqOf(before[i] as StatusReport, m.id)))
      return ok ? now : undefined
    })
    for (const m of [b, c]) {
      const report = await statusOf(m)
      assert.equal(stateOf(report, b.id), 'live')
      assert.equal(stateOf(report, c.id), 'live')
    }
  })
})
