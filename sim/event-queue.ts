// A binary min-heap of timed events. Ties break by insertion order, so a run is a pure function
// of its seed whatever the heap's internal layout.
interface Entry<T> { atMs: number, seq: number, item: T }

export class EventQueue<T> {
  private readonly heap: Array<Entry<T>> = []
  private seq = 0

  get size (): number { return this.heap.length }

  push (atMs: number, item: T): void {
    const heap = this.heap
    heap.push({ atMs, seq: this.seq++, item })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  /** The earliest event, removed, or undefined when empty. */
  pop (): { atMs: number, item: T } | undefined {
    const heap = this.heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop() as Entry<T>
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < heap.length && before(heap[l]!, heap[min]!)) min = l
        if (r < heap.length && before(heap[r]!, heap[min]!)) min = r
        if (min === i) break
        ;[heap[i], heap[min]] = [heap[min]!, heap[i]!]
        i = min
      }
    }
    return { atMs: top.atMs, item: top.item }
  }

  peekTime (): number | undefined {
    return this.heap[0]?.atMs
  }
}

function before<T> (a: Entry<T>, b: Entry<T>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
}
