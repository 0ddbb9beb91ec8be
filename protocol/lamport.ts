// Lamport clock for last-writer-wins stamps: always ahead of every stamp seen in the view.
// Pure, so the node and the simulator stamp ops the same way.
export class LamportClock {
  private max = 0
  observe (lamport: number): void { if (lamport > this.max) this.max = lamport }
  tick (): number { return ++this.max }
  /** The highest stamp seen or made, for a clock that must continue from this one. */
  get current (): number { return this.max }
}
