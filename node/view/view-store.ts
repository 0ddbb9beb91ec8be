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
}

export class MemoryViewStore implements ViewStore {
  readonly entries = new Map<string, Buffer>()

  async get (key: string): Promise<Buffer | null> {
    return this.entries.get(key) ?? null
  }

  async put (key: string, value: Buffer): Promise<void> {
    this.entries.set(key, value)
  }

  async * range (gte: string, lt: string): AsyncIterable<ViewEntry> {
    const keys = [...this.entries.keys()].filter((k) => k >= gte && k < lt).sort()
    for (const key of keys) yield { key, value: this.entries.get(key) as Buffer }
  }
}
