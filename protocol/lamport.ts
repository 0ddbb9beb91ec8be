// Lamport clock for last-writer-wins stamps: always ahead of every stamp seen in the view.
// Pure, so the node and the simulator stamp ops the same way.

/**
 * The highest stamp apply accepts. A peer that wrote 2^53 would push every clock past what
 * compact-encoding can encode, and no node could stamp an op again; 2^48 lasts ~9,000 years
 * at a million ops a second.
 */
export const MAX_LAMPORT = 2 ** 48

export class LamportClock {
  private max = 0
  observe (lamport: number): void { if (lamport > this.max) this.max = lamport }
  tick (): number { return ++this.max }
  /** The highest stamp seen or made, for a clock that must continue from this one. */
  get current (): number { return this.max }
}
