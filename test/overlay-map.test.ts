// OverlayMap (the snapshot's holdings) must read and iterate exactly like the plain Map copy it
// replaces: the same entries, sizes and iteration order, before and after it folds its changes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { OverlayMap } from '../node/view/overlay-map.js'

type Value = { n: number }
type Edit = [op: 'set' | 'delete', key: number, value: number]

// Values are objects, as the snapshot's are; the same number is the same object.
const values: Value[] = Array.from({ length: 10 }, (_, n) => ({ n }))
const editArb = fc.tuple(fc.constantFrom<'set' | 'delete'>('set', 'delete'), fc.nat(149), fc.nat(9)).map((e): Edit => e)

function edit (map: { set: (key: number, value: Value) => unknown, delete: (key: number) => unknown }, [op, key, value]: Edit): void {
  if (op === 'set') map.set(key, values[value] as Value)
  else map.delete(key)
}

function assertSame (overlay: ReadonlyMap<number, Value>, plain: Map<number, Value>): void {
  assert.deepEqual([...overlay], [...plain], 'entries in the same order')
  assert.deepEqual([...overlay.keys()], [...plain.keys()])
  assert.deepEqual([...overlay.values()], [...plain.values()])
  const each: Array<[number, Value]> = []
  overlay.forEach((v, k) => each.push([k, v]))
  assert.deepEqual(each, [...plain])
  assert.equal(overlay.size, plain.size)
  for (let key = -1; key <= 150; key++) {
    assert.equal(overlay.get(key), plain.get(key))
    assert.equal(overlay.has(key), plain.has(key))
  }
}

test('an OverlayMap after any batches of sets and deletes reads like a Map copied and edited alike', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(149), fc.nat(9))), fc.array(fc.array(editArb, { maxLength: 40 }), { maxLength: 30 }), (initial, batches) => {
    let plain = new Map(initial.map(([k, v]) => [k, values[v] as Value]))
    let overlay = OverlayMap.of<number, Value>(new Map(plain))
    const history: Array<[ReadonlyMap<number, Value>, Map<number, Value>]> = []
    for (const batch of batches) {
      const next = new Map(plain)
      for (const e of batch) edit(next, e)
      overlay = overlay.with((draft) => {
        for (const e of batch) {
          edit(draft, e)
          assert.equal(draft.get(e[1]), e[0] === 'set' ? values[e[2]] : undefined)
        }
      })
      plain = next
      history.push([overlay, plain])
      assertSame(overlay, plain)
    }
    // Every earlier map is left as it was.
    for (const [o, p] of history) assertSame(o, p)
  }), { seed: 20261121, numRuns: 300 })
})

test('an OverlayMap folds many changes into a new base and still reads the same', () => {
  const plain = new Map<number, Value>([[1, values[1] as Value], [2, values[2] as Value]])
  let overlay = OverlayMap.of<number, Value>(new Map(plain))
  for (let i = 0; i < 400; i++) {
    const e: Edit = i % 5 === 4 ? ['delete', (i * 3) % 150, 0] : ['set', (i * 7) % 150, i % 10]
    edit(plain, e)
    overlay = overlay.with((draft) => edit(draft, e))
    assertSame(overlay, plain)
  }
})
