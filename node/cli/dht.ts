// `bevy dht`: a private DHT bootstrap for bevies that should stay off the public DHT.
import { Command } from 'commander'
import { parseIntSetting } from '../config.js'
import { DEFAULT_DHT_HOST, DEFAULT_DHT_PORT, startPrivateDht } from '../dht.js'
import { createLogger } from '../log.js'
import { option } from './options.js'
import { untilShutdown } from './shutdown.js'

export function dhtCommand (onExit: (code: number) => void): Command {
  const cmd = new Command('dht').description('run a DHT bootstrap node for a private network; prints its HOST:PORT')
  option(cmd, '--host <addr>', 'address to bind and advertise', DEFAULT_DHT_HOST)
  option(cmd, '--port <n>', 'UDP port of the bootstrap node', String(DEFAULT_DHT_PORT))
  cmd.action(async (opts: { host: string, port: string }) => {
    const port = parseIntSetting('port', opts.port, 0, 65535)
    const dht = await startPrivateDht({ host: opts.host, port })
    process.stdout.write(`${dht.bootstrap}\n`)
    process.send?.({ type: 'ready', bootstrap: dht.bootstrap })
    await untilShutdown(createLogger(), 0, () => dht.close())
    onExit(0)
  })
  return cmd
}
