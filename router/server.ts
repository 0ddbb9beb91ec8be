// Composes one running node: the HTTP app, the Bevy runtime, and the node.json that admin
// commands use to find it. Listens first, because the node announces the URL it serves on.
import { networkInterfaces } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { Bevy } from '../node/bevy.js'
import type { NodeConfig } from '../node/config.js'
import type { Logger } from '../node/log.js'
import { writeNodeFile } from '../node/storage.js'
import { buildApp } from './app.js'

export interface RunningNode {
  app: FastifyInstance
  bevy: Bevy
  url: string
  /** The port the HTTP server listens on (the one bound, when --port was 0). */
  port: number
  close (): Promise<void>
}

export async function startNode (config: NodeConfig, log: Logger): Promise<RunningNode> {
  const bevy = new Bevy({ config, url: '', log })
  const app = buildApp({ bevy, adminToken: () => bevy.adminToken, log: log.child({ component: 'http' }, { level: 'warn' }) })
  await app.listen({ port: config.port, host: config.host })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  bevy.url = config.publicUrl ?? `http://${advertisedHost(config.host)}:${port}`

  let closing: Promise<void> | null = null
  const close = () => (closing ??= (async () => {
    // Stop taking requests first and let those in flight finish, for at most shutdownGraceMs;
    // then take the node out of the bevy and release storage.
    const cut = setTimeout(() => {
      log.warn({ graceMs: config.shutdownGraceMs }, 'requests still in flight after the grace period; closing their connections')
      app.server.closeAllConnections()
    }, config.shutdownGraceMs)
    try {
      await app.close()
    } finally {
      clearTimeout(cut)
    }
    await bevy.close()
  })())

  try {
    await bevy.ready()
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
  await writeNodeFile(config.storage, {
    id: bevy.idText,
    url: bevy.url,
    bevy: bevy.status().bevy,
    pid: process.pid,
    bootstrap: config.bootstrap === null ? null : config.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  })
  return { app, bevy, url: bevy.url, port, close }
}

/** The host other machines should dial: the bound address, or this machine's first external IPv4. */
function advertisedHost (host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host.includes(':') ? `[${host}]` : host
  for (const list of Object.values(networkInterfaces())) {
    for (const addr of list ?? []) {
      if (addr.family === 'IPv4' && !addr.internal) return addr.address
    }
  }
  return '127.0.0.1'
}
