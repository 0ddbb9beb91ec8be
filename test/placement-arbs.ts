// Random placement inputs for the property tests: hex ids, and nodes over three zones and two
// capacities, of which a share (in tenths) is eligible.
import fc from 'fast-check'

export const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
export const TiB = 2 ** 40

export function nodeFields (eligibleTenths: number) {
  return {
    id: hex,
    zone: fc.constantFrom('a', 'b', 'c'),
    capacityBytes: fc.constantFrom(TiB, 2 * TiB),
    eligible: fc.integer({ min: 0, max: 9 }).map((n) => n < eligibleTenths)
  }
}
