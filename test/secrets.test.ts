// Secrets stay secret: the storage and the admin token are readable by the node's user only, and
// no log line carries the token, an invite or a credential header, even at trace level.
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { api, loopbackDht, memberOf, nodeArgs, nodeProcess, readyWithin, tempDir } from './helpers.js'

test('storage is private to the node\'s user, and no secret reaches its logs', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const storage = join(await tempDir(t), 'node')
  const args = nodeArgs(storage, dht).map((arg, i, all) => all[i - 1] === '--log-level' ? 'trace' : arg)
  const proc = nodeProcess(t, args)
  const me = await memberOf(await readyWithin(proc))

  assert.equal((await stat(storage)).mode & 0o777, 0o700, 'storage directory is 0700')
  assert.equal((await stat(join(storage, 'admin.token'))).mode & 0o777, 0o600, 'admin.token is 0600')

  const { invite } = await api<{ invite: string }>(me, 'POST', '/api/invites', { uses: 1 })
  await api(me, 'POST', '/api/invites/revoke', { invite })
  const wrong = 'not-the-token-' + 'x'.repeat(20)
  for (const auth of [`Bearer ${wrong}`, `Bearer ${me.token}`]) {
    await fetch(`${me.url}/api/status`, { headers: { authorization: auth, cookie: `bevy_session=${wrong}` } })
  }
  await proc.stop('SIGTERM')
  const output = proc.output()
  assert.ok(output.length > 1000, 'trace logging produced output to search')
  assert.ok(!output.includes(me.token), 'the admin token is not logged')
  assert.ok(!output.includes(invite), 'an invite made over the API is not logged')
  assert.ok(!output.includes(wrong), 'a presented credential is not logged')
})
