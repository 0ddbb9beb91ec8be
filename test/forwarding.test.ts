// The hop chain a forwarded request carries: which entries name nodes, and that decoding them
// (cached, since every request on a pinned connection names the node that pinned it) stays right.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { formatKey, hexKey } from '../protocol/index.js'
import { hopChain, hopNodeHexes, MAX_HOPS } from '../router/forwarding.js'

test('hop entries that are node ids give their hex ids; others are ignored, however often they come', () => {
  const keys = [randomBytes(32), randomBytes(32)]
  const header = `${formatKey(keys[0]!)}, not-a-node ,,${formatKey(keys[1]!)}`
  for (let i = 0; i < 3; i++) {
    assert.deepEqual([...hopNodeHexes(hopChain(header))], keys.map(hexKey))
  }
  assert.equal(hopChain(Array.from({ length: 10 }, () => 'x').join(',')).length, MAX_HOPS + 1, 'a long chain is cut')
  // Many distinct entries (a client making them up) empty the cache instead of growing it; decoding stays right.
  for (let i = 0; i < 3000; i++) hopNodeHexes([`bogus${i}`, formatKey(randomBytes(32))])
  assert.deepEqual([...hopNodeHexes([formatKey(keys[1]!), 'bogus1'])], [hexKey(keys[1]!)])
})
