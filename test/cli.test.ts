// The command line: --help everywhere, one-line errors, exit codes as SPEC.md promises.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import BlindPairing from 'blind-pairing'
import * as z32 from 'z32'
import { runBevy as bevy, tempDir, type Run } from './helpers.js'

function assertOneLineError (run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code (stderr: ${run.stderr})`)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got: ${run.stderr}`)
  assert.match(lines[0] as string, pattern)
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
}

test('every command has --help and exits 0', async () => {
  for (const cmd of [[], ['start'], ['dht'], ['demo'], ['invite'], ['status'], ['cloud'], ['cloud', 'add'], ['cloud', 'ls'], ['cloud', 'show'], ['cloud', 'rm'], ['drain'], ['undrain']]) {
    const run = await bevy([...cmd, '--help'])
    assert.equal(run.code, 0, `bevy ${cmd.join(' ')} --help`)
    assert.match(run.stdout, /Usage: bevy/)
  }
  const start = await bevy(['start', '--help'])
  for (const flag of ['--heartbeat-interval-ms', '--suspect-after-ms', '--down-after-ms', '--rejoin-stable-ms', '--replicas', '--bootstrap', '--join']) {
    assert.ok(start.stdout.includes(flag), `start --help lists ${flag}`)
  }
  assert.match(start.stdout, /BEVY_HEARTBEAT_INTERVAL_MS/, 'help names the environment variable')
})

test('bad usage exits 2 with one line and no stack trace', async (t) => {
  const storage = await tempDir(t)
  assertOneLineError(await bevy(['frobnicate']), 2, /unknown command/)
  assertOneLineError(await bevy(['start', '--no-such-flag']), 2, /unknown option/)
  assertOneLineError(await bevy(['start', '--storage', storage, '--port', 'eighty']), 2, /--port/)
  assertOneLineError(await bevy(['start', '--storage', storage, '--bootstrap', 'nohostport']), 2, /--bootstrap/)
  assertOneLineError(await bevy(['start', '--storage', storage, '--down-after-ms', '100', '--suspect-after-ms', '5000']), 2, /--down-after-ms/)
  assertOneLineError(await bevy(['start', '--storage', storage], { BEVY_HEARTBEAT_INTERVAL_MS: 'soon' }), 2, /--heartbeat-interval-ms/)
  assertOneLineError(await bevy(['invite', '--storage', storage, '--ttl', 'forever']), 2, /--ttl/)
  assertOneLineError(await bevy(['cloud', 'add', 'not-a-key', '--storage', storage]), 2, /cloud key/)
  assertOneLineError(await bevy(['cloud', 'add', 'a'.repeat(64), '--replicas', '0', '--storage', storage]), 2, /--replicas/)
  assertOneLineError(await bevy(['cloud', 'add', 'a'.repeat(64), '--replicas', 'x', '--storage', storage]), 2, /--replicas/)
  assertOneLineError(await bevy(['cloud', 'show', 'q'.repeat(64), '--storage', storage]), 2, /cloud key/)
  assertOneLineError(await bevy(['drain', 'nobody', '--storage', storage]), 2, /node id/)
})

test('start refuses garbage and expired invites with exit 2 and creates no bevy', async (t) => {
  const dir = await tempDir(t)
  const garbageStorage = join(dir, 'garbage')
  assertOneLineError(await bevy(['start', '--storage', garbageStorage, '--join', 'this-is-not-an-invite', '--bootstrap', '127.0.0.1:1']), 2, /invite/)
  assert.equal(existsSync(join(garbageStorage, 'bevy.json')), false)

  const expired = BlindPairing.createInvite(Buffer.alloc(32, 7), { expires: Date.now() - 1000 })
  const expiredStorage = join(dir, 'expired')
  assertOneLineError(await bevy(['start', '--storage', expiredStorage, '--join', z32.encode(expired.invite), '--bootstrap', '127.0.0.1:1']), 2, /expired/)
  assert.equal(existsSync(join(expiredStorage, 'bevy.json')), false)
})

test('admin commands with no node to talk to fail with exit 1 and say what to do', async (t) => {
  const storage = await tempDir(t)
  assertOneLineError(await bevy(['status', '--storage', storage]), 1, /bevy start/)
  assertOneLineError(await bevy(['status', '--url', 'http://127.0.0.1:9', '--token', 'x']), 1, /cannot reach/)
})
