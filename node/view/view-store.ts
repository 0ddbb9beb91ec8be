// The key-value surface apply writes through. Production backs it with the Autobase's Hyperbee
// view; sim/ and unit tests back it with a sorted in-memory map.

export interface ViewEntry { key: string, value: Buffer }

export interface ViewStore {
  get (key: string): Promise<Buffer | null>
  put (key: string, value: Buffer): Promise<void>
  /** Entries with gte <= key < lt, in key order. */
  range (gte: string, lt: string): AsyncIterable<ViewEntry>
}

/** Side effects on the Autobase itself (writer membership) that apply may request. */
export interface WriterHost {
  addWriter (key: Buffer, opts: { indexer: boolean }): Promise<void>
  /** Removes a writer; false when Autobase may not (it is the last indexer). */
  removeWriter (key: Buffer): Promise<boolean>
}

export class MemoryViewStore implements ViewStore {
  /**
   * Entries by the first two characters of their key: the small sections a heartbeat reads and
   * writes (node/, hb/) stay in small maps, apart from the 100k-entry hold/ and cloud/ ones, so
   * a lookup there does not wander through one huge table.
   */
  private buckets = new Map<number, Map<string, Buffer>>()
  /**
   * Keys in order per top-level section ("node/", "hold/", ...), each rebuilt only after a new
   * key arrives in it: updates are far more common than inserts, and a new holding should not
   * re-sort the nodes a heartbeat scan reads.
   */
  private sorted = new Map<string, string[]>()

  /** Every entry, in one new map: for tests and dumps, not for the hot path. */
  get entries (): ReadonlyMap<string, Buffer> {
    const all = new Map<string, Buffer>()
    for (const bucket of this.buckets.values()) for (const [key, value] of bucket) all.set(key, value)
    return all
  }

  async get (key: string): Promise<Buffer | null> {
    return this.buckets.get(bucketOf(key))?.get(key) ?? null
  }

  async put (key: string, value: Buffer): Promise<void> {
    const code = bucketOf(key)
    let bucket = this.buckets.get(code)
    if (bucket === undefined) this.buckets.set(code, bucket = new Map())
    if (!bucket.has(key)) this.sorted.delete(sectionOf(key))
    bucket.set(key, value)
  }

  async * range (gte: string, lt: string): AsyncIterable<ViewEntry> {
    const section = sectionOf(gte)
    // A scan within one section reads that section's index; anything wider reads them all.
    const keys = section !== '' && lt <= sectionEnd(section) ? this.sectionKeys(section) : [...this.keys()].sort()
    for (let i = lowerBound(keys, gte); i < keys.length && (keys[i] as string) < lt; i++) {
      const key = keys[i] as string
      yield { key, value: this.buckets.get(bucketOf(key))?.get(key) as Buffer }
    }
  }

  /** A copy that shares the (immutable) values: what one side of a partition starts from. */
  clone (): MemoryViewStore {
    const copy = new MemoryViewStore()
    for (const [code, bucket] of this.buckets) copy.buckets.set(code, new Map(bucket))
    copy.sorted = new Map(this.sorted)
    return copy
  }

  private * keys (): Generator<string> {
    for (const bucket of this.buckets.values()) yield * bucket.keys()
  }

  private sectionKeys (section: string): string[] {
    let keys = this.sorted.get(section)
    if (keys === undefined) {
      keys = []
      // A section's keys share its first two characters, so they are all in one bucket.
      for (const key of this.buckets.get(bucketOf(section))?.keys() ?? []) if (key.startsWith(section)) keys.push(key)
      keys.sort()
      this.sorted.set(section, keys)
    }
    return keys
  }
}

/** The bucket of a key: its first two characters (NaN stands in for a missing one). */
function bucketOf (key: string): number {
  return key.charCodeAt(0) * 65536 + key.charCodeAt(1)
}

/**
 * "hold/" for "hold/<cloud>/<node>"; "" for a key without a section. A section is at least two
 * characters ("x/"), since its keys are found by their bucket, their first two characters: the
 * keys under a bare "/" (a hosted cloud's file paths) start with "/" alone and are in many buckets.
 */
function sectionOf (key: string): string {
  const slash = key.indexOf('/')
  return slash < 1 ? '' : key.slice(0, slash + 1)
}

function sectionEnd (section: string): string {
  return section.slice(0, -1) + String.fromCharCode(section.charCodeAt(section.length - 1) + 1)
}

/** Wraps a store and remembers which keys were written, for an incremental snapshot refresh. */
export class ChangeTrackingStore implements ViewStore {
  private changed = new Set<string>()

  constructor (readonly inner: ViewStore) {}

  get (key: string): Promise<Buffer | null> { return this.inner.get(key) }

  put (key: string, value: Buffer): Promise<void> {
    this.changed.add(key)
    return this.inner.put(key, value)
  }

  range (gte: string, lt: string): AsyncIterable<ViewEntry> { return this.inner.range(gte, lt) }

  /** The keys written since the last call. */
  takeChanges (): Set<string> {
    const changed = this.changed
    this.changed = new Set()
    return changed
  }
}

function lowerBound (keys: string[], key: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((keys[mid] as string) < key) lo = mid + 1
    else hi = mid
  }
  return lo
}
