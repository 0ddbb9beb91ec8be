// The CLI that operators run is the bundle bin/bevy.js loads (dist/bevy.cjs, from `npm run build`).
// These check the build produced a bundle that runs, and a code cache V8 actually takes: a cache
// V8 rejected would still work, only slower, so nothing else would notice.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { BIN_PATH } from '../node/cli/spawn.js'
import { packagePath } from '../node/package-root.js'

test('a fresh process loads the bundle with its code cache, and the bundled CLI answers', () => {
  const loader = pathToFileURL(packagePath('dist', 'node', 'cli', 'bundle-loader.js')).href
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `const { loadBundle } = await import(${JSON.stringify(loader)}); process.stdout.write(loadBundle().codeCache)`], { encoding: 'utf8' })
  assert.equal(probe.status, 0, probe.stderr)
  assert.equal(probe.stdout, 'used', 'V8 took the code cache written by the build')

  const version = spawnSync(process.execPath, [BIN_PATH, '--version'], { encoding: 'utf8' })
  assert.equal(version.status, 0, version.stderr)
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/)
})
