// ViewStore backed by a Hyperbee: the Autobase view in production.
import type Hyperbee from 'hyperbee'
import type { ViewEntry, ViewStore } from './view-store.js'

export class BeeViewStore implements ViewStore {
  constructor (private readonly bee: Hyperbee) {}

  async get (key: string): Promise<Buffer | null> {
    const entry = await this.bee.get(key)
    return entry === null ? null : entry.value
  }

  async put (key: string, value: Buffer): Promise<void> {
    await this.bee.put(key, value)
  }

  async * range (gte: string, lt: string): AsyncIterable<ViewEntry> {
    for await (const { key, value } of this.bee.createReadStream({ gte, lt })) yield { key, value }
  }
}
