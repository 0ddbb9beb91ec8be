// docs/cloud-bevy.service: it runs `bevy start` the way docs/production.md says, stops it with
// SIGTERM and gives the node's graceful stop time to finish, and passes `systemd-analyze verify`.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, constants, copyFile, readFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { TUNABLES } from '../node/config.js'
import { tempDir } from './helpers.js'

// The compiled test runs from dist/test/, so the repo root is two levels up.
const UNIT_PATH = fileURLToPath(new URL('../../docs/cloud-bevy.service', import.meta.url))
const UNIT_NAME = 'cloud-bevy.service'
/** untilShutdown (node/cli/shutdown.ts) forces the exit this long after the grace period. */
const FORCED_EXIT_MARGIN_MS = 15_000

type Unit = Map<string, string[]>

/** `Section.Key` → values, in order. Enough of the unit file syntax for this file. */
function parseUnit (text: string): Unit {
  const unit: Unit = new Map()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header !== null) {
      section = header[1]!
      continue
    }
    const eq = line.indexOf('=')
    assert.ok(eq > 0, `not a key=value line: ${line}`)
    const key = `${section}.${line.slice(0, eq).trim()}`
    unit.set(key, [...(unit.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return unit
}

function only (unit: Unit, key: string): string {
  const values = unit.get(key) ?? []
  assert.equal(values.length, 1, `${key} is set once`)
  return values[0]!
}

/** A systemd time span such as `40s`, `1min 30s` or `90` (seconds), in milliseconds. */
function timeSpanMs (text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000 }
  let total = 0
  for (const part of text.trim().split(/\s+/)) {
    const match = /^(\d+)([a-z]*)$/.exec(part)
    const unit = match === null ? undefined : units[match[2] === '' ? 's' : match[2]!]
    assert.ok(match !== null && unit !== undefined, `a time span this test understands: ${text}`)
    total += Number(match[1]) * unit
  }
  return total
}

async function onPath (command: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      await access(join(dir, command), constants.X_OK)
      return join(dir, command)
    } catch {}
  }
  return null
}

test('the systemd unit runs `bevy start` and stops it gracefully with SIGTERM', async () => {
  const unit = parseUnit(await readFile(UNIT_PATH, 'utf8'))

  const exec = only(unit, 'Service.ExecStart').split(/\s+/)
  assert.equal(exec[0], '/usr/bin/env', 'ExecStart finds bevy through /usr/bin/env')
  assert.deepEqual(exec.slice(1, 3), ['bevy', 'start'])
  const storage = exec[exec.indexOf('--storage') + 1]
  assert.ok(exec.includes('--storage') && storage !== undefined, 'ExecStart names the storage')

  assert.equal(only(unit, 'Service.KillSignal'), 'SIGTERM')
  // Past TimeoutStopSec systemd sends SIGKILL; the node must get to finish (or force) its own stop first.
  const ownDeadlineMs = TUNABLES.shutdownGraceMs.default + FORCED_EXIT_MARGIN_MS
  assert.ok(timeSpanMs(only(unit, 'Service.TimeoutStopSec')) > ownDeadlineMs,
    `TimeoutStopSec is longer than the node's own shutdown deadline (${ownDeadlineMs} ms)`)

  assert.equal(only(unit, 'Service.User'), 'bevy')
  assert.equal(only(unit, 'Service.Restart'), 'on-failure')
  // ProtectSystem=strict makes everything read-only but ReadWritePaths: the storage must be there,
  // and it is the StateDirectory systemd creates for the user.
  assert.equal(only(unit, 'Service.ProtectSystem'), 'strict')
  assert.ok(only(unit, 'Service.ReadWritePaths').split(/\s+/).includes(storage), 'the storage is writable')
  assert.equal(storage, '/var/lib/' + only(unit, 'Service.StateDirectory'), 'the storage is the StateDirectory')
})

test('systemd-analyze verify accepts the unit', async (t) => {
  const analyze = await onPath('systemd-analyze')
  if (analyze === null) {
    t.skip('systemd-analyze not installed')
    return
  }
  // verify checks the file it is given, named as it is; a copy keeps the check off the repo.
  const dir = await tempDir(t, 'bevy-unit-')
  const copy = join(dir, UNIT_NAME)
  await copyFile(UNIT_PATH, copy)

  const result = await new Promise<{ code: number, output: string }>((resolve) => {
    execFile(analyze, ['verify', copy], { timeout: 60_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, output: `${stdout}${stderr}` })
    })
  })
  const lines = result.output.split('\n').filter((l) => l.trim() !== '')
  for (const line of lines) t.diagnostic(`systemd-analyze: ${line}`)

  // Where no system manager can be set up at all, verify fails before it reads the unit. That
  // says nothing about the unit, so it is a skip, not a failure.
  if (result.code !== 0 && lines.some((l) => l.includes('Failed to initialize manager'))) {
    t.skip('systemd-analyze verify cannot run here: ' + lines.join(' | '))
    return
  }
  // What verify reports, and what it does not: it exits 1 for errors such as a missing ExecStart
  // or an ExecStart binary that is not executable, but only *prints* problems that systemd would
  // ignore at run time (an unknown or misspelt key, an unparsable value), as
  // `<path>:<line>: ...`, and exits 0. So both are checked: exit 0, and no line about this file.
  // It does not check that User=bevy exists, and the machine need not run systemd (on the build
  // machine, a container not booted with systemd, a correct unit prints nothing and exits 0).
  // Lines about other units (a dependency missing on a minimal host) are shown above, not failed.
  assert.equal(result.code, 0, `systemd-analyze verify exits 0:\n${result.output}`)
  const aboutUnit = lines.filter((l) => l.includes(copy) || l.includes(UNIT_NAME))
  assert.deepEqual(aboutUnit, [], 'systemd-analyze reports no problem with the unit')
})
