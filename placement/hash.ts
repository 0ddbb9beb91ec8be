// Integer-only hashing and scoring for weighted rendezvous hashing. No floats, no Math.log:
// every machine computes bit-identical scores.
import { LOG2_TABLE, TABLE_BITS } from './log2-table.js'

/** murmur3's 32-bit finaliser: a fast, well-mixed bijection on uint32. */
export function fmix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Two independent 32-bit seeds from a hex key (ids and cloud keys are uniformly random keys). */
export function seedsOf (hex: string): [number, number] {
  let a = 0x9e3779b9
  let b = 0x7f4a7c15
  // Fold the whole key in, so keys that share a prefix still get unrelated seeds.
  for (let i = 0; i + 8 <= hex.length; i += 8) {
    const word = parseInt(hex.slice(i, i + 8), 16) >>> 0
    a = fmix32(a ^ word)
    b = fmix32(Math.imul(b, 31) ^ word ^ (i >>> 3))
  }
  return [a, b]
}

/** The uniform 32-bit draw of one (cloud, node) pair. */
export function pairHash (cloudA: number, cloudB: number, nodeSeed: number): number {
  return fmix32(((cloudA ^ nodeSeed) + cloudB) >>> 0)
}

// Scores are -log2(h / 2^32) in units of 2^-32, held in doubles as exact integers (< 2^37).
// Precision matters most where u = h/2^32 is near 1, since that is where the winners are:
// there the score comes from a series in x = 2^32 - h; elsewhere from a 4096-entry table of
// log2 with linear interpolation (log2-table.ts). Everything is integer arithmetic: identical on every machine.
const TWO_32 = 2 ** 32
const SERIES_LIMIT = 2 ** 24
/** round(2^28 · (1/ln 2 − 1)), from the digits of 1/ln 2 = 1.4426950408889634. */
const INV_LN2_MINUS_ONE_Q28 = 118_835_045

/** -log2(h / 2^32) · 2^32 as an exact integer-valued double, for h in [0, 2^32). Decreasing in h. */
export function negLog2Score (h: number): number {
  const x = TWO_32 - h
  if (x <= SERIES_LIMIT) {
    // -log2(1 - t) = (t + t^2/2 + ...)/ln 2 with t = x/2^32 <= 2^-8; the cubic term is below 2^-16 of the result.
    const y = x + Math.floor((x * x) / 8_589_934_592) // + x^2 / 2^33
    return y + Math.floor((y * INV_LN2_MINUS_ONE_Q28) / 268_435_456)
  }
  const msb = 31 - Math.clz32(h)
  // Mantissa bits after the leading one: 12 for the table index, up to 19 more to interpolate.
  const rest = msb - TABLE_BITS
  let index: number
  let frac = 0
  let fracScale = 1
  if (rest >= 0) {
    index = (h >>> rest) & 0xfff
    const fracBits = Math.min(rest, 19)
    frac = (h >>> (rest - fracBits)) & ((1 << fracBits) - 1)
    fracScale = 2 ** fracBits
  } else {
    index = (h << -rest) & 0xfff
  }
  const lo = LOG2_TABLE[index] as number
  const hi = LOG2_TABLE[index + 1] as number
  const log2Frac = lo + Math.floor(((hi - lo) * frac) / fracScale)
  return (32 - msb) * TWO_32 - log2Frac
}

/**
 * Capacity in bytes to an integer weight: whole GiB, clamped to [1, 2^15] so that
 * score × weight stays below 2^53 and is exact. Nodes above 32 TiB weigh as 32 TiB.
 */
export const MAX_WEIGHT = 1 << 15
export function weightOf (capacityBytes: number): number {
  const gib = Math.floor(capacityBytes / 2 ** 30)
  return Math.max(1, Math.min(MAX_WEIGHT, gib))
}
