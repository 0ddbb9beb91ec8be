// keepTickObjectShape finds Node's nextTick symbols in this Node version (it is a silent no-op
// otherwise, and bench:router would lose what it buys), and calling it again changes nothing.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keepTickObjectShape } from '../node/tick-shape.js'

test('the nextTick shape keeper finds its symbols and is idempotent', () => {
  assert.equal(keepTickObjectShape(), true)
  assert.equal(keepTickObjectShape(), true)
  // process.nextTick still works as before.
  return new Promise<void>((resolve) => process.nextTick(resolve))
})
