// Ports through which time and randomness enter the system. Production implements them with the
// real clock and crypto; sim/ implements them with a simulated clock and a seeded PRNG, so the
// same decision code runs under both.

export interface Clock {
  /** Milliseconds since the Unix epoch, as this node believes it to be. */
  now (): number
}

export interface Rng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32 (): number
}

/** A float in [0, 1) drawn from an Rng. */
export function rngFloat (rng: Rng): number {
  return rng.nextUint32() / 0x1_0000_0000
}

/** An integer in [0, n) drawn from an Rng. */
export function rngInt (rng: Rng, n: number): number {
  return Math.floor(rngFloat(rng) * n)
}

/** A copy of `items` in an order drawn from `rng` (Fisher-Yates). */
export function rngShuffle<T> (items: readonly T[], rng: Rng): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rngInt(rng, i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/**
 * A small seeded PRNG (mulberry32): the same seed gives the same sequence on every machine, which
 * is what tests and the simulator replay from. Not for secrets.
 */
export function seededRng (seed: number): Rng {
  let state = seed >>> 0
  return {
    nextUint32 () {
      state = (state + 0x6d2b79f5) >>> 0
      let t = state
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return (t ^ (t >>> 14)) >>> 0
    }
  }
}
