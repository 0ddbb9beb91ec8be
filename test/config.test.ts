// The config module: SPEC defaults, flag and environment names, validation.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { configFromOptions } from '../node/cli/start.js'
import { defaultConfig, envName, flagName, TUNABLES } from '../node/config.js'
import { BevyError } from '../protocol/index.js'

test('defaults match SPEC.md', () => {
  const config = defaultConfig()
  assert.equal(config.replicas, 3)
  assert.equal(config.heartbeatIntervalMs, 2000)
  assert.equal(config.suspectAfterMs, 5000)
  assert.equal(config.downAfterMs, 15_000)
  assert.equal(config.rejoinStableMs, 30_000)
  assert.equal(config.port, 7420)
  assert.equal(config.host, '0.0.0.0')
  assert.equal(config.zone, 'default')
  assert.equal(config.route, 'redirect')
  assert.equal(config.bootstrap, null, 'the public DHT by default')
  assert.equal(config.capacity, null, 'the free disk by default')
})

test('every tunable is documented and named with its unit', () => {
  for (const [name, tunable] of Object.entries(TUNABLES)) {
    assert.ok(tunable.doc.length > 20, `${name} explains its tradeoff`)
    assert.ok(tunable.min <= tunable.default && tunable.default <= tunable.max, `${name} default within bounds`)
    if (/(interval|after|stable|timeout|refresh|ttl|grace)/i.test(name)) assert.match(name, /Ms$/, `${name} carries its unit`)
  }
  assert.equal(flagName('heartbeatIntervalMs'), 'heartbeat-interval-ms')
  assert.equal(envName('heartbeatIntervalMs'), 'BEVY_HEARTBEAT_INTERVAL_MS')
  assert.equal(envName('downAfterMs'), 'BEVY_DOWN_AFTER_MS')
})

test('options parse into a validated config', () => {
  const config = configFromOptions({ storage: '/tmp/x', port: '0', bootstrap: '127.0.0.1:4000,10.0.0.1:5', downAfterMs: '3000', suspectAfterMs: '1000', heartbeatIntervalMs: '100', capacity: '1000' })
  assert.deepEqual(config.bootstrap, [{ host: '127.0.0.1', port: 4000 }, { host: '10.0.0.1', port: 5 }])
  assert.equal(config.downAfterMs, 3000)
  assert.equal(config.capacity, 1000)
  for (const bad of [{ port: '-1' }, { port: '1.5' }, { replicas: '0' }, { replicas: '17' }, { maxIndexers: '4' }, { route: 'teleport' }, { publicUrl: 'ftp://x' }, { zone: '' + 'z'.repeat(65) }]) {
    assert.throws(() => configFromOptions(bad), (err: unknown) => err instanceof BevyError && err.isUsage, JSON.stringify(bad))
  }
})
