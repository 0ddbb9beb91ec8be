// The placement scores' log2 table is written out in the source; it must be exactly the table its
// definition computes, or nodes running different builds would place clouds differently.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { computeLog2Table, LOG2_TABLE } from '../placement/log2-table.js'
import { negLog2Score } from '../placement/hash.js'

test('the written-out log2 table is the one its definition computes, to the last bit', () => {
  const computed = computeLog2Table()
  assert.equal(LOG2_TABLE.length, computed.length)
  for (let k = 0; k < computed.length; k++) assert.equal(LOG2_TABLE[k], computed[k], `entry ${k}`)
})

test('scores are exact at the table\'s powers of two and fall as the draw rises', () => {
  assert.equal(negLog2Score(2 ** 31), 2 ** 32, '-log2(1/2) is one, in units of 2^-32')
  assert.equal(negLog2Score(2 ** 30), 2 * 2 ** 32)
  let previous = Infinity
  for (let h = 1; h < 2 ** 32; h = Math.floor(h * 1.37) + 1) {
    const score = negLog2Score(h)
    assert.ok(Number.isInteger(score) && score < previous, `score(${h}) = ${score} after ${previous}`)
    previous = score
  }
})
