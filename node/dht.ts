// A private DHT for a bevy that should not use the public one (and for every test and demo here).
// A lone bootstrap node is not enough: on loopback, peers found each other reliably only with
// five or more DHT nodes, so this starts the bootstrap node plus a few helpers in one process.
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import { BevyError, ErrorCode } from '../protocol/index.js'

export const DEFAULT_DHT_HOST = '127.0.0.1'
export const DEFAULT_DHT_PORT = 49737
/** DHT nodes to run in total; five was the smallest size that connected peers reliably. */
export const DEFAULT_DHT_SIZE = 5

export interface PrivateDht {
  /** HOST:PORT of the bootstrap node, as `bevy start --bootstrap` takes it. */
  bootstrap: string
  host: string
  port: number
  close (): Promise<void>
}

export async function startPrivateDht (opts: { host?: string, port?: number, size?: number } = {}): Promise<PrivateDht> {
  const host = opts.host ?? DEFAULT_DHT_HOST
  let testnet: Testnet
  try {
    testnet = await createTestnet(opts.size ?? DEFAULT_DHT_SIZE, { host, port: opts.port ?? DEFAULT_DHT_PORT })
  } catch (err) {
    throw new BevyError(ErrorCode.STORAGE, `cannot start a DHT on ${host}:${opts.port ?? DEFAULT_DHT_PORT} (port in use?)`, { cause: err })
  }
  const first = testnet.bootstrap[0]
  if (first === undefined) throw new BevyError(ErrorCode.STORAGE, 'DHT started without a bootstrap node')
  let closing: Promise<void> | null = null
  return {
    bootstrap: `${first.host}:${first.port}`,
    host: first.host,
    port: first.port,
    close: () => (closing ??= testnet.destroy())
  }
}
