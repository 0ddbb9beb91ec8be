// Secrets stay secret: the storage and the admin token are readable by the node's user only, and
// no log line carries the token, an invite or a credential header, even at trace level.
import assert from 'node:assert/strict'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { api, loopbackDht, memberOf, nodeArgs, nodeProcess, readyWithin, runBevy, tempDir, writeFiles } from './helpers.js'

/** Paths under `root` that anyone but their owner may read, write or enter. */
async function openToOthers (root: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name)
    if (((await stat(path)).mode & 0o077) !== 0) out.push(path)
  }
  return out
}

test('node and owner storage are private to their user, and no secret reaches the logs', { timeout: 120_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const storage = join(await tempDir(t), 'node')
  const args = nodeArgs(storage, dht).map((arg, i, all) => all[i - 1] === '--log-level' ? 'trace' : arg)
  const proc = nodeProcess(t, args)
  const me = await memberOf(await readyWithin(proc))

  assert.equal((await stat(storage)).mode & 0o777, 0o700, 'storage directory is 0700')
  assert.equal((await stat(join(storage, 'admin.token'))).mode & 0o777, 0o600, 'admin.token is 0600')

  // The owner's drive keys, like the node's, stay with their user: every file 0600, every directory 0700.
  const site = join(await tempDir(t), 'site')
  await writeFiles(site, new Map([['index.html', Buffer.from('<h1>private keys</h1>')]]))
  const ownerStorage = join(await tempDir(t), 'owner')
  const pushed = await runBevy(['push', site, '--storage', storage, '--owner-storage', ownerStorage, '--replicas', '1', '--timeout', '60s'])
  assert.equal(pushed.code, 0, pushed.stderr)
  assert.deepEqual(await openToOthers(ownerStorage), [], 'nothing in the owner storage is open to others')
  assert.deepEqual(await openToOthers(storage), [], 'nothing in the node storage is open to others')

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
