// An immutable map that is a plain base map plus a few changes on top. A snapshot refresh that
// changes a handful of a 100k-cloud view's holdings then copies only the changes, not the whole
// map; once the changes grow large enough to slow reads, they are folded into a fresh base.
//
// It reads and iterates exactly like the Map that `new Map(base)` followed by the same set and
// delete calls would give, iteration order included: a changed key keeps its place, a new or
// re-added key goes to the end.

/** Changes kept on top before they are folded into a new base: enough to copy rarely, few enough to read fast. */
function foldAfter (baseSize: number): number {
  return 16 + 8 * Math.ceil(Math.sqrt(baseSize))
}

export class OverlayMap<K, V extends object> implements ReadonlyMap<K, V> {
  private constructor (
    private readonly base: ReadonlyMap<K, V>,
    /** The value of every key changed or added on top of the base. */
    private readonly changed: ReadonlyMap<K, V>,
    /** Base keys deleted (some may be back, in `appended`). */
    private readonly removed: ReadonlySet<K>,
    /** Keys not in the base, or deleted from it and set again, in the order they were added. */
    private readonly appended: ReadonlySet<K>
  ) {}

  static of<K, V extends object> (base: ReadonlyMap<K, V>): OverlayMap<K, V> {
    return base instanceof OverlayMap ? base as OverlayMap<K, V> : new OverlayMap(base, new Map(), new Set(), new Set())
  }

  /**
   * A new map with `edit`'s set and delete calls applied to a copy of this one's changes; this
   * map is left as it was. Folds everything into a new plain base when the changes grew large.
   */
  with (edit: (draft: { get: (key: K) => V | undefined, set: (key: K, value: V) => void, delete: (key: K) => void }) => void): OverlayMap<K, V> {
    const changed = new Map(this.changed)
    const removed = new Set(this.removed)
    const appended = new Set(this.appended)
    const next = new OverlayMap(this.base, changed, removed, appended)
    edit({
      get: (key) => next.get(key),
      set: (key, value) => {
        // A key keeps its place unless it was deleted from the base: then it goes to the end.
        if (!appended.has(key) && (removed.has(key) || !this.base.has(key))) appended.add(key)
        changed.set(key, value)
      },
      delete: (key) => {
        if (appended.delete(key)) changed.delete(key)
        else if (this.base.has(key) && !removed.has(key)) {
          removed.add(key)
          changed.delete(key)
        }
      }
    })
    if (changed.size + removed.size <= foldAfter(this.base.size)) return next
    return new OverlayMap(new Map(next), new Map(), new Set(), new Set())
  }

  get size (): number {
    return this.base.size - this.removed.size + this.appended.size
  }

  get (key: K): V | undefined {
    const changed = this.changed.get(key)
    if (changed !== undefined) return changed
    if (this.removed.size > 0 && this.removed.has(key)) return undefined
    return this.base.get(key)
  }

  has (key: K): boolean {
    return this.changed.has(key) || ((this.removed.size === 0 || !this.removed.has(key)) && this.base.has(key))
  }

  * entries (): MapIterator<[K, V]> {
    for (const [key, value] of this.base) {
      if (this.removed.has(key)) continue
      yield [key, this.changed.get(key) ?? value]
    }
    for (const key of this.appended) yield [key, this.changed.get(key) as V]
  }

  * keys (): MapIterator<K> {
    for (const [key] of this.entries()) yield key
  }

  * values (): MapIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator] (): MapIterator<[K, V]> {
    return this.entries()
  }

  forEach (callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this)
  }
}
