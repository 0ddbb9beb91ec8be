// A node's life ends gracefully: SIGTERM finishes the requests in flight and exits 0, a second
// signal forces the exit, and `bevy leave` drains, waits for the handoff and then leaves, with
// the others placing its replicas elsewhere and logging the story (moves, handoffs, the leave).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http, { type IncomingMessage } from 'node:http'
import { test } from 'node:test'
import type { CloudInfo } from '../node/bevy.js'
import type { StatusReport } from '../node/status.js'
import { api, loopbackDht, runBevy, seedDrives, startBevy, waitFor, type Member } from './helpers.js'

/** Well over what loopback socket buffers hold, so an unread response really stays in flight. */
const BIG_BYTES = 16 * 1024 * 1024
const IN_FLIGHT = 50

/** A GET whose response is held unread (paused) once its head arrived, so it stays in flight. */
function heldGet (url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => { res.pause(); resolve(res) })
    req.on('error', reject)
  })
}

function drain (res: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0
    res.on('data', (chunk: Buffer) => { bytes += chunk.length })
    res.on('end', () => resolve(bytes))
    res.on('error', reject)
    res.resume()
  })
}

/** A one-node bevy serving a cloud with a 16 MiB file, ready to be fetched from the node. */
async function nodeWithBigFile (t: Parameters<typeof loopbackDht>[0], extra: string[] = []) {
  const dht = await loopbackDht(t)
  const seeded = await seedDrives(t, dht, 1)
  await seeded.drives[0]!.put('/big.bin', randomBytes(BIG_BYTES))
  const bevy = await startBevy(t, dht, 1, () => extra)
  const node = bevy.members[0]!
  const key = seeded.keys[0]!
  await api(node, 'POST', '/api/clouds', { key, replicas: 1 })
  const url = `${node.url}/c/${key}/big.bin`
  await waitFor('the node to serve the big file', async () => {
    const res = await fetch(url)
    const body = Buffer.from(await res.arrayBuffer())
    return res.status === 200 && body.length === BIG_BYTES ? true : undefined
  }, 90_000, 250)
  return { proc: bevy.procs[0]!, url }
}

test('SIGTERM with 50 requests in flight: all complete with 200, the node exits 0 within 10 s', { timeout: 180_000 }, async (t) => {
  const { proc, url } = await nodeWithBigFile(t)
  const held = await Promise.all(Array.from({ length: IN_FLIGHT }, () => heldGet(url)))
  for (const res of held) assert.equal(res.statusCode, 200)

  const stoppedAt = Date.now()
  const exited = proc.stop('SIGTERM')
  const sizes = await Promise.all(held.map(drain))
  assert.deepEqual(sizes, held.map(() => BIG_BYTES), 'every in-flight response arrives whole')
  assert.equal(await exited, 0, `exit code; the node's log:\n${proc.output().slice(-3000)}`)
  // The bound on a graceful stop, not a speed measurement: the default grace is 10 s.
  assert.ok(Date.now() - stoppedAt < 10_000, `the node took ${Date.now() - stoppedAt} ms to stop`)
  assert.match(proc.output(), /"msg":"shutting down"/)
})

test('a second signal forces the exit while a graceful stop waits on a request', { timeout: 180_000 }, async (t) => {
  const { proc, url } = await nodeWithBigFile(t, ['--shutdown-grace-ms', '120000'])
  const stuck = await heldGet(url) // never read: the graceful stop would wait out the grace period
  proc.child.kill('SIGINT')
  await waitFor('the node to start shutting down', () => /"msg":"shutting down"/.test(proc.output()) ? true : undefined)
  assert.equal(proc.child.exitCode, null, 'still waiting on the request in flight')
  proc.child.kill('SIGINT')
  assert.equal(await proc.exited, 1, 'a forced exit is not a clean one')
  assert.match(proc.output(), /"msg":"forced exit"/)
  stuck.destroy()
})

test('bevy leave drains the node, waits for the handoff, leaves, and the node stops', { timeout: 240_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const seeded = await seedDrives(t, dht, 1)
  const key = seeded.keys[0]!
  const bevy = await startBevy(t, dht, 3, (i) => ['--zone', `z${i}`])
  const [a] = bevy.members as [Member, Member, Member]
  await api(a, 'POST', '/api/clouds', { key, replicas: 2 })
  const syncedTargets = (info: CloudInfo) => info.placement.filter((r) => r.role === 'target' && r.synced).map((r) => r.node)
  const first = await waitFor('two synced replicas', async () => {
    const info = await api<CloudInfo>(a, 'GET', `/api/clouds/${key}`)
    return syncedTargets(info).length === 2 ? syncedTargets(info) : undefined
  }, 90_000, 250)

  // The leaver holds a replica, so leaving means a real handoff to the third node.
  const leaverIndex = bevy.members.findIndex((m) => m.id === first[0])
  const leaver = bevy.members[leaverIndex]!
  const witness = bevy.members.find((m) => m !== leaver)!
  const run = await runBevy(['leave', '--storage', leaver.storage])
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, /left the bevy/)
  assert.equal(await bevy.procs[leaverIndex]!.exited, 0, 'the node stops by itself once it left')

  const status = await waitFor('the others to see the node left', async () => {
    const s = await api<StatusReport>(witness, 'GET', '/api/status')
    return s.nodes.find((n) => n.id === leaver.id)?.state === 'left' ? s : undefined
  }, 30_000, 250)
  assert.equal(status.nodes.filter((n) => n.state === 'live').length, 2)
  const after = syncedTargets(await api<CloudInfo>(witness, 'GET', `/api/clouds/${key}`))
  assert.equal(after.length, 2, 'the cloud is back at 2 synced replicas')
  assert.ok(!after.includes(leaver.id), 'none of them on the node that left')

  // The info logs tell it: the founder saw the others join; the witness saw the drain, the
  // replica move, the leaver hand off, and the leave.
  const infoLine = (log: string, event: string) => assert.match(log, new RegExp(`"level":30,[^\\n]*"event":"${event}"`), `an info line for ${event}`)
  infoLine(bevy.procs[0]!.output(), 'join')
  const log = bevy.procs[bevy.members.indexOf(witness)]!.output()
  for (const event of ['drain', 'move', 'handoff', 'leave']) infoLine(log, event)
})
