// Client-side balancing: GET /.well-known/bevy/clouds/<cloud> lists a cloud's replicas best
// first. With `Accept: text/event-stream` it keeps the connection and sends the list again
// whenever the replica set, a replica's liveness or its synced flag changes.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { RoutedReplica } from '../../node/bevy.js'
import { formatKey } from '../../protocol/index.js'
import { parseCloudUrl } from '../cloud-path.js'
import { errorSchema } from '../schemas.js'
import { EventStreams } from '../sse.js'

export interface ReplicaFeedSource {
  rankedReplicas: (keyHex: string) => RoutedReplica[]
  on: (event: 'update' | 'node-state', listener: () => void) => unknown
  off: (event: 'update' | 'node-state', listener: () => void) => unknown
}

export interface ReplicaList {
  cloud: string
  replicas: Array<{ node: string, url: string, zone: string, state: string, synced: boolean, load: number }>
}

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

const replicaFeedSchema = {
  summary: 'A cloud\'s replicas, best first, for client-side balancing; with Accept: text/event-stream, `replicas` events on every change',
  tags: ['clouds'],
  security: [],
  params: { type: 'object', properties: { cloud: { type: 'string' } }, required: ['cloud'] },
  response: {
    200: {
      type: 'object',
      properties: {
        cloud: { type: 'string' },
        replicas: {
          type: 'array',
          items: {
            type: 'object',
            properties: { node: { type: 'string' }, url: { type: 'string' }, zone: { type: 'string' }, state: { type: 'string' }, synced: { type: 'boolean' }, load: { type: 'number' } },
            required: ['node', 'url', 'zone', 'state', 'synced', 'load']
          }
        }
      },
      required: ['cloud', 'replicas']
    },
    '4xx': errorSchema,
    '5xx': errorSchema
  }
}

/** What an update is about: membership, liveness and synced, but not load, which moves all the time. */
function fingerprint (list: ReplicaList): string {
  return list.replicas.map((r) => `${r.node}:${r.state}:${r.synced ? 1 : 0}`).sort().join(',')
}

export function replicaFeedRoutes (source: ReplicaFeedSource) {
  return async function (app: FastifyInstance): Promise<void> {
    const streams = new EventStreams()
    streams.endOnClose(app)

    app.get('/.well-known/bevy/clouds/:cloud', { schema: replicaFeedSchema }, async (request, reply) => {
      const { cloudHex, cloudText } = parseCloudUrl('/c/' + (request.params as { cloud: string }).cloud)
      const list = () => replicaList(cloudText, source.rankedReplicas(cloudHex))
      const first = list() // throws CLOUD_NOT_FOUND before any stream starts
      reply.header('Cache-Control', 'no-store')
      if (!String(request.headers.accept ?? '').includes('text/event-stream')) return first
      return stream(reply, first, list)
    })

    function stream (reply: FastifyReply, first: ReplicaList, list: () => ReplicaList): void {
      let last = fingerprint(first)
      const check = () => {
        let next: ReplicaList
        try {
          next = list()
        } catch {
          return events.end() // the cloud was removed or the node is closing
        }
        const print = fingerprint(next)
        if (print !== last) { last = print; events.send('replicas', next) }
      }
      const events = streams.start(reply, () => {
        source.off('update', check)
        source.off('node-state', check)
      })
      events.send('replicas', first)
      source.on('update', check)
      source.on('node-state', check)
    }
  }
}
