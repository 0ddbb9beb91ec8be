// The in-memory view store (the simulator's and the tests' view) keeps its entries in buckets by
// key prefix; it must answer gets and range scans exactly like one sorted map of every entry.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { MemoryViewStore } from '../node/view/view-store.js'

const keyArb = fc.oneof(
  fc.constantFrom('', 'h', 'hb', 'hb/', 'hold/', 'node/', 'x/'),
  fc.tuple(fc.constantFrom('hb/', 'hold/', 'node/', 'h/', 'hx', 'sync/', 'cloud/'), fc.string({ maxLength: 3 })).map(([p, s]) => p + s)
)

async function scan (store: MemoryViewStore, gte: string, lt: string): Promise<string[]> {
  const out: string[] = []
  for await (const { key, value } of store.range(gte, lt)) out.push(`${key}=${value.toString()}`)
  return out
}

test('a MemoryViewStore reads like one sorted map of everything put in it', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(keyArb, fc.nat(9))), fc.array(fc.tuple(keyArb, keyArb)), async (puts, bounds) => {
    const store = new MemoryViewStore()
    const plain = new Map<string, string>()
    for (const [key, v] of puts) {
      await store.put(key, Buffer.from(String(v)))
      plain.set(key, String(v))
    }
    const copy = store.clone()
    await store.put('hb/late', Buffer.from('x'))
    for (const [key] of puts) assert.equal((await copy.get(key))?.toString(), plain.get(key))
    assert.equal(await copy.get('hb/late'), null, 'a clone does not see later puts')
    assert.equal(copy.entries.size, plain.size)
    for (const [a, b] of [...bounds, ['', '\uffff'], ['hb/', 'hb0'], ['hold/', 'hold0']] as Array<[string, string]>) {
      const expected = [...plain].filter(([k]) => k >= a && k < b).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([k, v]) => `${k}=${v}`)
      assert.deepEqual(await scan(copy, a, b), expected, `range ${JSON.stringify(a)}..${JSON.stringify(b)}`)
    }
  }), { seed: 20261121, numRuns: 200 })
})
