// Client-side balancing: GET /.well-known/bevy/clouds/<cloud> lists a cloud's replicas best
// first. With `Accept: text/event-stream` it keeps the connection and sends the list again
// whenever the replica set, a replica's liveness or its synced flag changes.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { RoutedReplica } from '../../node/bevy.js'
import { formatKey } from '../../protocol/index.js'
import { parseCloudUrl } from '../cloud-path.js'

export interface ReplicaFeedSource {
  rankedReplicas: (keyHex: string) => RoutedReplica[]
  on: (event: 'update' | 'node-state', listener: () => void) => unknown
  off: (event: 'update' | 'node-state', listener: () => void) => unknown
}

export interface ReplicaList {
  cloud: string
  replicas: Array<{ node: string, url: string, zone: string, state: string, synced: boolean, load: number }>
}

/** A comment line this often keeps idle streams open through proxies that cut silent ones. */
const KEEPALIVE_MS = 15_000

export function replicaList (cloudText: string, replicas: readonly RoutedReplica[]): ReplicaList {
  return {
    cloud: cloudText,
    replicas: replicas.map((r) => ({
      node: formatKey(Buffer.from(r.node, 'hex')),
      url: r.url,
      zone: r.zone,
      state: r.liveness,
      synced: r.synced,
      load: r.loadPermille / 1000
    }))
  }
}

/** What an update is about: membership, liveness and synced, but not load, which moves all the time. */
function fingerprint (list: ReplicaList): string {
  return list.replicas.map((r) => `${r.node}:${r.state}:${r.synced ? 1 : 0}`).sort().join(',')
}

export function replicaFeedRoutes (source: ReplicaFeedSource) {
  return async function (app: FastifyInstance): Promise<void> {
    const streams = new Set<() => void>()
    // Open streams would hold app.close() forever; end them first.
    app.addHook('preClose', async () => { for (const end of [...streams]) end() })

    app.get('/.well-known/bevy/clouds/:cloud', async (request, reply) => {
      const { cloudHex, cloudText } = parseCloudUrl('/c/' + (request.params as { cloud: string }).cloud)
      const list = () => replicaList(cloudText, source.rankedReplicas(cloudHex))
      const first = list() // throws CLOUD_NOT_FOUND before any stream starts
      reply.header('Cache-Control', 'no-store')
      if (!String(request.headers.accept ?? '').includes('text/event-stream')) return first
      return stream(reply, first, list)
    })

    function stream (reply: FastifyReply, first: ReplicaList, list: () => ReplicaList): void {
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
      let last = fingerprint(first)
      let id = 0
      const send = (body: ReplicaList) => res.write(`id: ${++id}\nevent: replicas\ndata: ${JSON.stringify(body)}\n\n`)
      send(first)
      const check = () => {
        let next: ReplicaList
        try {
          next = list()
        } catch {
          return end() // the cloud was removed or the node is closing
        }
        const print = fingerprint(next)
        if (print !== last) { last = print; send(next) }
      }
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)
      const end = () => {
        if (!streams.delete(end)) return
        clearInterval(keepalive)
        source.off('update', check)
        source.off('node-state', check)
        res.end()
      }
      streams.add(end)
      source.on('update', check)
      source.on('node-state', check)
      res.on('close', end)
    }
  }
}
