// The clouds' owner, in this process: one Corestore with a Hyperdrive per cloud, a few files each
// (contents drawn from the seed), seeded on a Hyperswarm bound to the private DHT until the bevy
// has synced them. Then it stops seeding, so from there on only the bevy keeps the data.
import { join } from 'node:path'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import { parseBootstrap } from '../../node/config.js'
import type { PrivateDht } from '../../node/dht.js'
import { formatKey } from '../../protocol/index.js'
import { rngInt, seededRng } from '../../protocol/ports.js'

export interface CloudContent {
  key: string
  /** Path as used in /c/<key>/<path> (no leading slash) to the bytes the owner wrote. */
  files: Map<string, Buffer>
  /** The drive's version once written: a synced replica reports at least this. */
  version: number
  /** db core + blob core bytes, what a replica's bytes.total counts. */
  bytes: number
}

/** Kept apart from the schedule's stream so adding a file never changes the faults. */
const CONTENT_SEED_SALT = 0x5eed_c10d

export class Owner {
  private seeding = true

  private constructor (
    readonly clouds: CloudContent[],
    private readonly store: Corestore,
    private readonly drives: Hyperdrive[],
    private readonly swarm: Hyperswarm
  ) {}

  static async create (o: { dir: string, dht: PrivateDht, count: number, seed: number }): Promise<Owner> {
    const rng = seededRng((o.seed ^ CONTENT_SEED_SALT) >>> 0)
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rngInt(rng, 256)))
    const store = new Corestore(join(o.dir, 'owner'))
    const swarm = new Hyperswarm({ bootstrap: parseBootstrap(o.dht.bootstrap) })
    swarm.on('connection', (conn: SwarmConnection) => { conn.on('error', () => {}); store.replicate(conn) })
    const drives: Hyperdrive[] = []
    const clouds: CloudContent[] = []
    const owner = new Owner(clouds, store, drives, swarm)
    try {
      for (let i = 0; i < o.count; i++) {
        const drive = new Hyperdrive(store.namespace(`chaos-cloud-${i}`))
        drives.push(drive)
        await drive.ready()
        // A page, a binary spanning several blocks, a nested small file: enough to catch a partial copy.
        const files = new Map<string, Buffer>([
          ['index.html', Buffer.from(`<h1>chaos cloud ${i}</h1>\n`)],
          ['data/blob.bin', bytes(96 * 1024 + rngInt(rng, 64 * 1024))],
          ['notes/deep/readme.txt', Buffer.from(`cloud ${i} of seed ${o.seed}\n`.repeat(1 + rngInt(rng, 50)))]
        ])
        for (const [path, content] of files) await drive.put('/' + path, content)
        const blobs = await drive.getBlobs()
        if (blobs === null) throw new Error('owner drive has no blob core')
        clouds.push({ key: formatKey(drive.key), files, version: drive.version, bytes: drive.core.byteLength + blobs.core.byteLength })
        swarm.join(drive.discoveryKey, { server: true, client: true })
      }
      await swarm.flush()
      return owner
    } catch (err) {
      await owner.close()
      throw err
    }
  }

  get isSeeding (): boolean {
    return this.seeding
  }

  /** Leaves the swarm and closes the drives: the bevy alone holds the clouds from here on. */
  async stopSeeding (): Promise<void> {
    if (!this.seeding) return
    this.seeding = false
    await this.swarm.destroy().catch(() => {})
    for (const d of this.drives) await d.close().catch(() => {})
    await this.store.close().catch(() => {})
  }

  async close (): Promise<void> {
    await this.stopSeeding()
  }
}
