// In-process nodes with fast heartbeats and a tiny epochMaxViewBlocks, so that rotations of the
// cluster log come every few seconds. Shared by the epoch and the bounded-disk tests.
import { Bevy } from '../node/bevy.js'
import { defaultConfig, type NodeConfig } from '../node/config.js'
import { onTeardown, tempDir } from './helpers.js'

type T = Parameters<typeof tempDir>[0]

export interface EpochNodeOptions { join?: string, storage?: string, config?: Partial<NodeConfig> }

export async function startEpochNode (t: T, bootstrap: string, rotateAfterViewBlocks: number, opts: EpochNodeOptions = {}): Promise<Bevy> {
  const [host, port] = bootstrap.split(':')
  const bevy = new Bevy({
    config: defaultConfig({
      storage: opts.storage ?? await tempDir(t),
      bootstrap: [{ host: host as string, port: Number(port) }],
      join: opts.join ?? null,
      heartbeatIntervalMs: 100,
      // A lease per ping: the heartbeats are what fills the log up to a rotation here.
      leaseIntervalMs: 100,
      leaseMeshIntervalMs: 100,
      suspectAfterMs: 1500,
      downAfterMs: 3000,
      pairTimeoutMs: 20_000,
      epochMaxViewBlocks: rotateAfterViewBlocks,
      epochSeedTimeoutMs: 5000,
      ...opts.config
    }),
    url: 'http://127.0.0.1:1'
  })
  onTeardown(t, () => bevy.close())
  await bevy.ready()
  return bevy
}

export const epochsOf = (nodes: Bevy[]) => nodes.map((n) => n.epochNumber)
