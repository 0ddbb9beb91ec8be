// Crash safety: a seeded PRNG plans rounds of `bevy push` (a new folder, or a changed one pushed
// again) and cloud adds (CLI or HTTP) against one node, and SIGKILLs the node at a random moment:
// before, during or after the work is acknowledged. Some rounds SIGKILL the push itself (the cloud
// must then serve one whole version or none) and run it again, which must converge on the same
// cloud. After every restart on the same storage, each acknowledged cloud is listed and serves,
// byte for byte, the version that was acknowledged (or a later one that was pushed, whole); a push
// that was never acknowledged may be lost, but if it is served, it is served whole. The plan
// replays with BEVY_CRASH_SEED=<seed> (the timing of a kill against the work can differ);
// BEVY_CRASH_ROUNDS changes the number of rounds.
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatKey, rngFloat, rngInt, seededRng, type Rng } from '../protocol/index.js'
import type { NodeProcess } from '../node/cli/spawn.js'
import type { CloudInfo } from '../node/bevy.js'
import { OwnerDrive } from '../node/owner/owner-drive.js'
import { CloudReplica } from '../node/clouds/cloud-replica.js'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import type Hyperswarm from 'hyperswarm'
import {
  api, loopbackDht, memberOf, type Member, nodeArgs, nodeProcess, onTeardown, readyWithin, type Run, type RunningBevy, seedDrives, spawnBevy, tempDir, waitFor, writeFiles
} from './helpers.js'

const ROUNDS = Number(process.env.BEVY_CRASH_ROUNDS ?? 10)
/** Drives the test process seeds for `cloud add`: at most one add a round. */
const SEEDED = ROUNDS

/** One version of a pushed folder: its files, and whether `bevy push` acknowledged it. */
interface Version { files: Map<string, Buffer>, acked: boolean, drive: number | null }

/** A folder the owner pushes; its cloud key is known once a push printed it. */
interface Folder { name: string, path: string, key: string | null, versions: Version[], registered: boolean }

/** A drive registered with `cloud add`: acknowledged once the CLI exited 0 or the API said 200. */
interface Added { key: string, files: Map<string, Buffer>, replicas: number, acked: boolean }

type Op = 'new-push' | 'repush' | 'add-cli' | 'add-http'
type Phase = 'before' | 'during' | 'registered' | 'after-ack'
type PushRun = RunningBevy & { registered: Promise<void> }

/** The line `bevy push` logs once the node acknowledged the cloud's registration. */
const REGISTERED = /\d+\/\d+ replicas synced/

test('SIGKILL at seeded random points during push and cloud add never loses an acknowledged cloud', { timeout: 600_000 }, async (t) => {
  const given = process.env.BEVY_CRASH_SEED ?? ''
  const seed = given === '' ? randomInt(2 ** 31) : Number(given)
  assert.ok(Number.isSafeInteger(seed), `BEVY_CRASH_SEED must be an integer, not ${process.env.BEVY_CRASH_SEED}`)
  const say = (line: string): void => { process.stdout.write(`crash-safety: ${line}\n`) }
  say(`seed ${seed} (replay with BEVY_CRASH_SEED=${seed})`)
  t.diagnostic(`seed ${seed}`)
  const rng = seededRng(seed)
  const started = Date.now()

  const dht = await loopbackDht(t)
  const dir = await tempDir(t, 'bevy-crash-')
  const storage = join(dir, 'node')
  const ownerStorage = join(dir, 'owner')
  const args = nodeArgs(storage, dht, ['--sync-progress-interval-ms', '200'])

  // The drives for `cloud add` draw from their own stream, so the plan does not depend on ROUNDS.
  const contentRng = seededRng(seed ^ 0x5eed)
  const seededFiles = Array.from({ length: SEEDED }, (_, i) => randomFiles(contentRng, `added-${i}`))
  const seeded = await seedDrives(t, dht, SEEDED, (i) => seededFiles[i]!)
  let nextSeeded = 0

  const folders: Folder[] = []
  const added: Added[] = []

  let proc: NodeProcess = nodeProcess(t, args)
  let node: Member = await memberOf(await readyWithin(proc))

  for (let round = 1; round <= ROUNDS; round++) {
    const roundStart = Date.now()
    // The plan of this round, drawn before anything runs so a seed always replays the same plan.
    const op: Op = folders.length === 0 ? 'new-push' : pick(rng, ['new-push', 'repush', 'repush', 'add-cli', 'add-http'])
    const alsoAdd = op !== 'add-cli' && op !== 'add-http' && rngFloat(rng) < 0.4
    const killPush = (op === 'new-push' || op === 'repush') && rngFloat(rng) < 0.3
    // When the node dies: at a random moment from the start, a moment after the push's cloud
    // registration was acknowledged (its blocks are syncing then), or after everything was.
    const drawn: Phase = pick(rng, ['before', 'during', 'during', 'registered', 'registered', 'after-ack'])
    // In a push-killing round the node dies after the rerun was acknowledged, so the rerun is always checked.
    const phase: Phase = killPush ? 'after-ack' : drawn
    const delayMs = phase === 'before' ? rngInt(rng, 150) : phase === 'during' ? 150 + rngInt(rng, 3500) : rngInt(rng, 400)
    const pushKillMs = rngInt(rng, 2500)

    let folder: Folder | null = null
    let version: Version | null = null
    if (op === 'new-push' || op === 'repush') {
      folder = op === 'repush' ? pick(rng, folders) : newFolder(dir, folders.length)
      if (op === 'new-push') folders.push(folder)
      const files = op === 'repush' ? changedFiles(rng, latest(folder).files, round) : randomFiles(rng, folder.name)
      await rm(folder.path, { recursive: true, force: true })
      await writeFiles(folder.path, files)
      version = { files, acked: false, drive: null }
      folder.versions.push(version)
    }
    const adds: Added[] = []
    if (op === 'add-cli' || op === 'add-http' || alsoAdd) {
      const i = nextSeeded++
      const add: Added = { key: seeded.keys[i]!, files: seededFiles[i]!, replicas: 1 + rngInt(rng, 3), acked: false }
      added.push(add)
      adds.push(add)
    }
    const viaCli = op === 'add-cli' || (alsoAdd && rngFloat(rng) < 0.5)
    const when = phase === 'after-ack' ? `${delayMs} ms after every ack` : phase === 'registered' && folder !== null ? `${delayMs} ms after the push registered` : `at ${delayMs} ms`
    say(`round ${round}: ${op}${folder === null ? '' : ` ${folder.name} v${folder.versions.length}`}` +
      (adds.length > 0 ? ` + add ${adds[0]!.key.slice(0, 8)} (${viaCli ? 'cli' : 'http'}, ${adds[0]!.replicas} replicas)` : '') + ', ' +
      (killPush ? `SIGKILL push at ${pushKillMs} ms, run it again, then ` : '') + `SIGKILL node ${when}`)

    // Commands still running when the test fails are killed with it.
    const command = (cmdArgs: string[]): RunningBevy => {
      const run = spawnBevy(cmdArgs)
      onTeardown(t, () => { if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL') })
      return run
    }
    const push = (f: Folder): PushRun => {
      const run = command(['push', f.path, '--storage', storage, '--owner-storage', ownerStorage, '--replicas', '1', '--bootstrap', dht.bootstrap, '--timeout', '60s'])
      // A push logs its first replica count right after the node acknowledged the registration.
      const registered = new Promise<void>((resolve) => {
        let err = ''
        run.child.stderr?.on('data', (d: Buffer) => { err += d.toString(); if (REGISTERED.test(err)) resolve() })
        run.done.then(() => resolve(), () => resolve())
      })
      return { ...run, registered }
    }

    const work: Array<Promise<void>> = []
    let registered: Promise<void> = Promise.resolve()
    let pushRegistered = false
    if (folder !== null && version !== null) {
      const f = folder
      const v = version
      if (killPush) {
        // The owner's own process dies mid-push; running it again must finish the job.
        work.push((async () => {
          const first = push(f)
          const timer = setTimeout(() => first.child.kill('SIGKILL'), pushKillMs)
          const killed = await first.done
          clearTimeout(timer)
          pushRegistered = noteRegistration(f, killed)
          if (killed.code === 0) acknowledge(f, v, killed)
          else {
            // The owner is gone with the new version perhaps half sent: the cloud serves a whole one or none.
            f.key ??= await ownerKey(ownerStorage, f.path)
            const served = await servedVersion(node, f)
            say(`round ${round}: push killed; ${f.name} serves ${served === null ? 'nothing' : `v${served + 1}`}`)
          }
          const again = await push(f).done
          assert.equal(again.code, 0, `a push run again after its SIGKILL must succeed: ${again.stderr}`)
          pushRegistered = noteRegistration(f, again)
          acknowledge(f, v, again)
        })())
      } else {
        const run = push(f)
        registered = run.registered
        work.push((async () => {
          const res = await run.done
          pushRegistered = noteRegistration(f, res)
          if (res.code === 0) acknowledge(f, v, res)
        })())
      }
    }
    for (const add of adds) {
      work.push((async () => {
        if (viaCli) {
          const res = await command(['cloud', 'add', add.key, '--replicas', String(add.replicas), '--storage', storage]).done
          add.acked = res.code === 0
        } else {
          const res = await fetch(`${node.url}/api/clouds`, {
            method: 'POST',
            headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ key: add.key, replicas: add.replicas })
          }).catch(() => null)
          add.acked = res !== null && (res.status === 200 || res.status === 201)
          await res?.arrayBuffer().catch(() => {})
        }
      })())
    }

    const all = Promise.all(work)
    if (phase === 'after-ack') await all
    else if (phase === 'registered') await registered
    await sleep(delayMs)
    assert.equal(await proc.stop('SIGKILL'), 'SIGKILL', `the node was running until killed; its log:\n${proc.output().slice(-4000)}`)
    await all // every command gives up once the node is gone
    // A push killed before it printed the key may still have registered the cloud: learn the key
    // from the owner's storage (no push runs now), as the next push of the folder would.
    if (folder !== null && folder.key === null) folder.key = await ownerKey(ownerStorage, folder.path)

    const outcome = [
      ...(folder === null ? [] : [`push of ${folder.name} v${folder.versions.length} ${version!.acked ? 'acknowledged' : pushRegistered ? 'not acknowledged (its registration was)' : 'not acknowledged'}`]),
      ...adds.map((a) => `add ${a.key.slice(0, 8)} ${a.acked ? 'acknowledged' : 'not acknowledged'}`)
    ]
    say(`round ${round}: node killed; ${outcome.join(', ')}`)

    proc = nodeProcess(t, args) // a restart needs no flags: the storage says which bevy it is in
    node = await memberOf(await readyWithin(proc))
    const served = await verify(node, folders, added).catch((err: Error) => {
      err.message += `\nround ${round} of seed ${seed}; the restarted node's log:\n${proc.output().slice(-4000)}`
      throw err
    })
    say(`round ${round}: restart verified in ${Date.now() - roundStart} ms; serving ${served.join(', ')}`)
  }

  const pushedAcked = folders.reduce((n, f) => n + f.versions.filter((v) => v.acked).length, 0)
  say(`seed ${seed}: ${ROUNDS} rounds, ${folders.length} folders, ${pushedAcked} acknowledged pushes, ${added.filter((a) => a.acked).length} acknowledged adds, ${Date.now() - started} ms`)
})

// The case the rounds above hit only when a kill lands mid-download (a run of them found it: the
// cloud answered 503 for good): a node acknowledged version 1, then died while downloading
// version 2, the owner gone. Built here step by step, so it happens every run: the restarted
// replica must serve version 1, whole.
test('a replica restarted with a newer version half downloaded serves the last complete version', { timeout: 60_000 }, async (t) => {
  const ownerStore = new Corestore(await tempDir(t))
  const owner = new Hyperdrive(ownerStore)
  onTeardown(t, () => owner.close())
  await owner.ready()
  const v1 = new Map([['index.html', Buffer.from('<h1>one</h1>')], ['a.bin', randomBytes(100_000)]])
  for (const [path, bytes] of v1) await owner.put('/' + path, bytes)
  const version1 = owner.version

  const nodeStore = new Corestore(await tempDir(t))
  onTeardown(t, () => nodeStore.close())
  // The owner's copy is reachable only while linked, by an in-memory stream: no DHT, no timing.
  const link = (): (() => void) => {
    const a = ownerStore.replicate(true)
    const b = nodeStore.replicate(false)
    a.pipe(b).pipe(a)
    a.on('error', () => {})
    b.on('error', () => {})
    return () => { a.destroy(); b.destroy() }
  }
  const noSwarm = { join: () => ({}), flush: async () => {}, leave: async () => {} } as unknown as Hyperswarm
  const replicaOf = () => new CloudReplica({ store: nodeStore.namespace('cloud'), swarm: noSwarm, key: owner.key, onChange: () => {} })

  // Run 1: the copy of version 1 is complete (what an acknowledged push waits for).
  let unlink = link()
  let replica = replicaOf()
  await replica.ready()
  await waitFor('version 1 complete here', () => replica.status().state === 'synced' && replica.status().version === version1 ? true : undefined)
  await replica.close()
  unlink()

  // Version 2 is pushed; the node takes its db blocks and none of the new file's blocks, then "crashes".
  await owner.put('/index.html', Buffer.from('<h1>two</h1>'))
  await owner.put('/big.bin', randomBytes(2_000_000))
  unlink = link()
  const partial = new Hyperdrive(nodeStore.namespace('cloud'), owner.key)
  await partial.ready()
  await waitFor('the node to learn of version 2', async () => { await partial.update({ wait: true }); return partial.version === owner.version ? true : undefined })
  await partial.core.download({ start: 0, end: partial.core.length }).done()
  unlink()
  await partial.close()

  // Run 2, the owner gone: version 1 is served, whole, and the replica counts as synced.
  replica = replicaOf()
  await replica.ready()
  assert.equal(replica.status().state, 'syncing', 'the live drive lacks version 2\'s blocks')
  assert.equal(replica.synced, true, 'a complete earlier version counts as synced')
  assert.equal(replica.drive.version, version1, 'it serves version 1')
  for (const [path, bytes] of v1) assert.deepEqual(await replica.drive.get('/' + path, { wait: false }), bytes, `${path} of version 1`)
  assert.equal(await replica.drive.entry('/big.bin', { wait: false }), null, 'nothing of version 2 shows')

  // The owner comes back: once version 2 is complete, it is what the replica serves.
  unlink = link()
  await waitFor('version 2 complete and served', () => replica.status().state === 'synced' && replica.drive.version === owner.version ? true : undefined, 30_000)
  assert.deepEqual(await replica.drive.get('/index.html', { wait: false }), Buffer.from('<h1>two</h1>'))
  await replica.close()
  unlink()
})

/** How long a failing check waits to see whether a missing cloud was late rather than lost. */
const LATE_LISTING_MS = 5000

/** Whether `key` is listed after `ms` more: for the message of a failed check. */
async function listedAfter (node: Member, key: string, ms: number): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, ms))
  const { clouds } = await api<{ clouds: CloudInfo[] }>(node, 'GET', '/api/clouds').catch(() => ({ clouds: [] as CloudInfo[] }))
  return clouds.some((c) => c.key === key) ? `listed ${ms} ms later: the view was late` : `still not listed ${ms} ms later: lost`
}

/** What the node must show after a restart; see the header. */
async function verify (node: Member, folders: Folder[], added: Added[]): Promise<string[]> {
  const report: string[] = []
  const health = await fetch(`${node.url}/api/health`)
  assert.equal(health.status, 200, 'the restarted node is healthy')
  assert.deepEqual(await health.json(), { ok: true })

  const { clouds } = await api<{ clouds: CloudInfo[] }>(node, 'GET', '/api/clouds')
  const listed = new Map(clouds.map((c) => [c.key, c]))
  for (const add of added.filter((a) => a.acked)) {
    // Still a failure either way; whether it shows up a moment later tells a late view from a lost op.
    const later = listed.has(add.key) ? '' : await listedAfter(node, add.key, LATE_LISTING_MS)
    assert.ok(listed.has(add.key), `the acknowledged cloud add ${add.key} is listed after the restart (${later})`)
    assert.equal(listed.get(add.key)!.replicas, add.replicas, `${add.key} keeps its replica count`)
  }
  for (const f of folders.filter((f) => f.registered)) {
    assert.ok(f.key !== null && listed.has(f.key), `the cloud of ${f.name} (${f.key}), whose registration was acknowledged, is listed after the restart`)
  }

  for (const f of folders) {
    const ackedAt = lastIndex(f.versions, (v) => v.acked)
    if (ackedAt === -1) {
      // Never acknowledged: it may be lost or present, but what is served must be one whole version.
      if (f.key === null || !listed.has(f.key)) continue
      const whole = await servedVersion(node, f)
      report.push(`${f.name}: ${whole === null ? 'not served' : `v${whole + 1}`} (never acknowledged)`)
      continue
    }
    // The acknowledged version or a later one that was pushed (whole), never an older one.
    const allowed = f.versions.slice(ackedAt)
    const since = Date.now()
    const at = await waitFor(`${f.name} (${f.key}) to serve its acknowledged version`, async () => {
      const served = await servedFiles(node, f.key!, f.versions)
      if (served === null) throw new Error('not served yet')
      const i = allowed.findIndex((v) => sameFiles(served, v.files))
      if (i !== -1) return ackedAt + i
      throw new Error(`served files differ from every acknowledged or later version: ${describe(served, f.versions[ackedAt]!.files)}`)
    }, 60_000, 250)
    // The acknowledged version itself stays readable by number, byte for byte.
    const v = f.versions[ackedAt]!
    if (v.drive !== null) {
      const pinned = await servedFiles(node, f.key!, f.versions, v.drive)
      assert.ok(pinned !== null && sameFiles(pinned, v.files), `${f.name} version ${v.drive} is served byte for byte: ${pinned === null ? 'not served' : describe(pinned, v.files)}`)
    }
    report.push(`${f.name}: v${at + 1} (v${ackedAt + 1} acknowledged${f.versions.length > at + 1 ? `, v${f.versions.length} pushed last` : ''})${took(since)}`)
  }

  for (const add of added.filter((a) => a.acked)) {
    // Its owner (this test) is still seeding, so the restarted node finishes the copy if it must.
    const since = Date.now()
    await waitFor(`the added cloud ${add.key} to serve its files`, async () => {
      const served = await servedFiles(node, add.key, [{ files: add.files, acked: true, drive: null }])
      if (served === null) throw new Error('not served yet')
      if (sameFiles(served, add.files)) return true
      throw new Error(describe(served, add.files))
    }, 60_000, 250)
    report.push(`${add.key.slice(0, 8)}: whole${took(since)}`)
  }
  return report
}

/** Which of a folder's versions its cloud serves, asserting it is one of them, whole; null if none is served. */
async function servedVersion (node: Member, f: Folder): Promise<number | null> {
  const served = await servedFiles(node, f.key!, f.versions, undefined, true)
  if (served === null) return null
  const whole = f.versions.findIndex((v) => sameFiles(served, v.files))
  assert.ok(whole !== -1, `${f.name}: what is served is one whole pushed version (no torn files): ${describe(served, latest(f).files)}`)
  return whole
}

/**
 * Every file any of `versions` had, as the node serves it now (or at drive version `pinned`):
 * path to bytes for the ones served, none for a 404. Null when the cloud is not served (503), or
 * with `mayBeUnknown` not registered.
 */
async function servedFiles (node: Member, key: string, versions: Version[], pinned?: number, mayBeUnknown = false): Promise<Map<string, Buffer> | null> {
  const paths = new Set(versions.flatMap((v) => [...v.files.keys()]))
  const served = new Map<string, Buffer>()
  let version: string | null = pinned === undefined ? null : String(pinned)
  for (const path of paths) {
    // Once the first answer names the drive version, every other file is read at that version, so
    // a version arriving mid-check cannot mix two versions.
    const query = version === null ? '' : `?version=${version}`
    const asked = Date.now()
    const res = await fetch(`${node.url}/c/${key}/${path}${query}`, { redirect: 'manual', signal: AbortSignal.timeout(30_000) })
    if (res.status === 503) { await res.arrayBuffer(); return null }
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status === 404) {
      const unknown = JSON.parse(body.toString()).error?.code === 'CLOUD_NOT_FOUND'
      if (unknown && mayBeUnknown) return null
      assert.ok(!unknown, `${key} is listed but unknown to the content route`)
      continue
    }
    assert.equal(res.status, 200, `GET /c/${key}/${path}${query}: ${res.status} ${body.toString().slice(0, 200)}`)
    // Not a failure, but worth seeing: a slow answer means the node waited for blocks it lacked.
    if (Date.now() - asked > 3000) process.stdout.write(`crash-safety: GET /c/${key}/${path}${query} took ${Date.now() - asked} ms\n`)
    version ??= res.headers.get('x-bevy-version')
    served.set(path, body)
  }
  return served
}

/** How long a wait took, when long enough to say. */
function took (since: number): string {
  const ms = Date.now() - since
  return ms < 2000 ? '' : ` after ${ms} ms`
}

function sameFiles (a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false
  for (const [path, bytes] of b) if (!(a.get(path)?.equals(bytes) ?? false)) return false
  return true
}

function describe (served: Map<string, Buffer>, expected: Map<string, Buffer>): string {
  const paths = new Set([...served.keys(), ...expected.keys()])
  return [...paths].map((p) => `${p}: served ${served.get(p)?.length ?? 'none'} bytes, expected ${expected.get(p)?.length ?? 'none'}` +
    (served.has(p) && expected.has(p) && !served.get(p)!.equals(expected.get(p)!) ? ' (differ)' : '')).join('; ')
}

/** A push that logged its first replica count had its cloud registration acknowledged. */
function noteRegistration (f: Folder, res: Run): boolean {
  const registered = REGISTERED.test(res.stderr)
  if (registered) f.registered = true
  return registered
}

/** A push exited 0 and printed the cloud key and its URL: this version is acknowledged. */
function acknowledge (f: Folder, v: Version, res: Run): void {
  const [key, url] = res.stdout.trim().split('\n')
  assert.ok(key !== undefined && url !== undefined, `a successful push prints a key and a URL: ${res.stdout}`)
  assert.match(url, new RegExp(`/c/${key}/$`))
  if (f.key !== null) assert.equal(key, f.key, `${f.name}: the same folder pushes to the same cloud`)
  f.key = key
  f.registered = true
  v.acked = true
  const drive = /\(version (\d+)\)/.exec(res.stderr)
  v.drive = drive === null ? null : Number(drive[1])
}

/** The cloud key `bevy push` uses for `folder`: its owner drive's key, created if no push got that far. */
async function ownerKey (storage: string, folder: string): Promise<string> {
  const owner = new OwnerDrive({ storage, folder, bootstrap: null })
  await owner.ready()
  try {
    return formatKey(owner.drive.key)
  } finally {
    await owner.close()
  }
}

function newFolder (dir: string, i: number): Folder {
  return { name: `site-${i}`, path: join(dir, `site-${i}`), key: null, versions: [], registered: false }
}

function latest (f: Folder): Version {
  return f.versions[f.versions.length - 1]!
}

/** Two to four files with seeded bytes: a page, small assets, sometimes one of a few MB. */
function randomFiles (rng: Rng, name: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>([['index.html', Buffer.from(`<h1>${name}</h1>\n`)]])
  const count = 1 + rngInt(rng, 3)
  for (let i = 0; i < count; i++) {
    const big = rngFloat(rng) < 0.25
    files.set(`${pick(rng, ['assets', 'data', 'deep/nested'])}/f${i}.bin`, randomBytesOf(rng, big ? 1_000_000 + rngInt(rng, 2_000_000) : 1 + rngInt(rng, 200_000)))
  }
  return files
}

/** The next version of a folder: one file changed, maybe one added and one removed. */
function changedFiles (rng: Rng, before: Map<string, Buffer>, round: number): Map<string, Buffer> {
  const files = new Map(before)
  files.set('index.html', Buffer.from(`<h1>changed in round ${round}</h1>\n`))
  const others = [...files.keys()].filter((p) => p !== 'index.html')
  if (others.length > 0 && rngFloat(rng) < 0.5) files.delete(pick(rng, others))
  // Often a file of a few MB, so a kill soon after the registration lands mid-download.
  if (rngFloat(rng) < 0.7) files.set(`round-${round}/new.bin`, randomBytesOf(rng, rngFloat(rng) < 0.5 ? 1_000_000 + rngInt(rng, 3_000_000) : 1 + rngInt(rng, 500_000)))
  if (others.length > 0 && rngFloat(rng) < 0.5) {
    const path = pick(rng, others)
    if (files.has(path)) files.set(path, randomBytesOf(rng, files.get(path)!.length))
  }
  return files
}

function randomBytesOf (rng: Rng, length: number): Buffer {
  const buf = Buffer.alloc(length)
  for (let i = 0; i + 4 <= length; i += 4) buf.writeUInt32LE(rng.nextUint32(), i)
  for (let i = length - (length % 4); i < length; i++) buf[i] = rng.nextUint32() & 0xff
  return buf
}

function pick<T> (rng: Rng, items: readonly T[]): T {
  return items[rngInt(rng, items.length)]!
}

function lastIndex<T> (items: readonly T[], match: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (match(items[i]!)) return i
  return -1
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
