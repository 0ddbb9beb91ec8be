// The clouds one computation refilled, with their members, packed into typed arrays. With many
// nodes down a computation refills tens of thousands of clouds, and every node keeps its own
// placement: a Map of small arrays per placement cost the simulator hundreds of MB at 100k clouds.

export class Refilled {
  private constructor (
    /** Refilled positions, ascending. */
    readonly positions: Int32Array,
    /** Members of positions[s]: members[offsets[s] .. offsets[s + 1]). */
    private readonly offsets: Int32Array,
    private readonly members: Int32Array
  ) {}

  /** Packs assign's result; its positions must come in ascending order, as assign fills them. */
  static pack (filled: Map<number, number[]>): Refilled {
    const positions = new Int32Array(filled.size)
    const offsets = new Int32Array(filled.size + 1)
    let total = 0
    for (const members of filled.values()) total += members.length
    const members = new Int32Array(total)
    let s = 0
    let at = 0
    for (const [pos, list] of filled) {
      if (s > 0 && pos <= (positions[s - 1] as number)) throw new Error('refilled positions must ascend')
      positions[s] = pos
      offsets[s] = at
      // A plain loop: set() from a JS array takes a slow generic path, and this runs per refilled cloud.
      for (let j = 0; j < list.length; j++) members[at + j] = list[j] as number
      at += list.length
      s++
    }
    offsets[s] = at
    return new Refilled(positions, offsets, members)
  }

  get size (): number {
    return this.positions.length
  }

  /** The members of the cloud at `pos`, or undefined when it was not refilled. */
  membersAt (pos: number): number[] | undefined {
    let lo = 0
    let hi = this.positions.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.positions[mid] as number) < pos) lo = mid + 1
      else hi = mid
    }
    return this.positions[lo] === pos ? this.membersOfSlot(lo) : undefined
  }

  /** The members of the s-th refilled position. */
  membersOfSlot (s: number): number[] {
    return Array.from(this.members.subarray(this.offsets[s] as number, this.offsets[s + 1] as number))
  }

  /** Calls `visit` with every (position, member) pair, positions ascending. */
  forEachMember (visit: (pos: number, member: number) => void): void {
    for (let s = 0; s < this.positions.length; s++) {
      for (let j = this.offsets[s] as number; j < (this.offsets[s + 1] as number); j++) visit(this.positions[s] as number, this.members[j] as number)
    }
  }
}
