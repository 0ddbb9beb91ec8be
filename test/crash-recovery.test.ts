// A node SIGKILLed while its Autobase moved to a new indexer set comes back on restart. The
// storages are a fixture (test/fixtures/crash-mid-migration): the crash window is a fraction of a
// second, so a live kill would hit it only now and then.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { packagePath } from '../node/package-root.js'
import { paths, type NodeFile } from '../node/storage.js'
import type { StatusReport } from '../node/status.js'
import { getJson, loopbackDht, nodeArgs, nodeProcess, readyWithin, tempDir, waitFor } from './helpers.js'

const FIXTURE = packagePath('test', 'fixtures', 'crash-mid-migration', 'storages.tgz')

const exists = async (path: string): Promise<boolean> => access(path).then(() => true, () => false)

test('a node killed mid indexer change restarts: its log recomputes the unindexed tip', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const dir = await tempDir(t)
  await promisify(execFile)('tar', ['xzf', FIXTURE, '-C', dir])
  const storage = (name: string) => join(dir, name)
  const crashed = JSON.parse(await readFile(paths(storage('b')).nodeFile, 'utf8')) as NodeFile
  assert.ok(await exists(paths(storage('b')).runningMark), 'the fixture says b did not stop cleanly')

  for (const name of ['a', 'c']) await readyWithin(nodeProcess(t, nodeArgs(storage(name), dht)))
  const b = nodeProcess(t, nodeArgs(storage('b'), dht))
  const ready = await readyWithin(b)
  assert.equal(ready.id, crashed.id)
  assert.equal(ready.bevy, crashed.bevy)
  assert.match(b.output(), /did not stop cleanly/)

  const token = (await readFile(paths(storage('b')).adminToken, 'utf8')).trim()
  await waitFor('b to list all three nodes live', async () => {
    const report = await getJson<StatusReport>(`${ready.url}/api/status`, token)
    return report.nodes.length === 3 && report.nodes.every((n) => n.state === 'live') ? true : undefined
  })
  const aToken = (await readFile(paths(storage('a')).adminToken, 'utf8')).trim()
  const aUrl = (JSON.parse(await readFile(paths(storage('a')).nodeFile, 'utf8')) as NodeFile).url
  await waitFor('a to see b at its new URL', async () => {
    const report = await getJson<StatusReport>(`${aUrl}/api/status`, aToken)
    return report.nodes.find((n) => n.id === ready.id)?.url === ready.url ? true : undefined
  })

  await b.stop('SIGTERM')
  assert.equal(await exists(paths(storage('b')).runningMark), false, 'a clean stop removes the running mark')
  const again = nodeProcess(t, nodeArgs(storage('b'), dht))
  await readyWithin(again)
  assert.doesNotMatch(again.output(), /did not stop cleanly/)
})
