// A cloud registration the API acknowledged survives a SIGKILL straight after the reply.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatKey } from '../protocol/index.js'
import { loopbackDht, nodeArgs, nodeProcess, readyWithin, tempDir } from './helpers.js'

test('an acknowledged cloud-add is never lost, even to SIGKILL', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const storage = join(await tempDir(t), 'node')
  const first = nodeProcess(t, nodeArgs(storage, dht))
  const ready = await readyWithin(first)
  const token = (await readFile(join(storage, 'admin.token'), 'utf8')).trim()
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const keys = Array.from({ length: 5 }, () => formatKey(randomBytes(32)))
  for (const key of keys) {
    const res = await fetch(`${ready.url}/api/clouds`, { method: 'POST', headers, body: JSON.stringify({ key, replicas: 2 }) })
    assert.equal(res.status, 200)
  }
  await first.stop('SIGKILL')

  const again = nodeProcess(t, nodeArgs(storage, dht))
  const back = await readyWithin(again)
  const res = await fetch(`${back.url}/api/clouds`, { headers })
  const { clouds } = await res.json() as { clouds: Array<{ key: string, replicas: number }> }
  assert.deepEqual(clouds.map((c) => c.key).sort(), [...keys].sort())
  assert.ok(clouds.every((c) => c.replicas === 2))
})
