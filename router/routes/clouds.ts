import type { FastifyInstance } from 'fastify'
import type { Bevy } from '../../node/bevy.js'
import { formatKey, MAX_REPLICAS, parseKey } from '../../protocol/index.js'
import { errorSchema } from '../schemas.js'
import { requireOpen } from './require-open.js'

const placementSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      node: { type: 'string' },
      url: { type: ['string', 'null'] },
      role: { type: 'string', enum: ['target', 'handoff'] },
      synced: { type: 'boolean' },
      progress: { type: 'number' },
      state: { type: 'string', enum: ['waiting', 'syncing', 'synced'] },
      version: { type: 'integer' },
      blocks: { type: 'object', properties: { had: { type: 'integer' }, total: { type: 'integer' } } },
      bytes: { type: 'object', properties: { had: { type: 'integer' }, total: { type: 'integer' } } },
      peers: { type: 'integer' }
    }
  }
} as const

const cloudSchema = {
  type: 'object',
  properties: { key: { type: 'string' }, replicas: { type: 'integer' }, placement: placementSchema },
  required: ['key', 'replicas', 'placement']
} as const

const errors = { '4xx': errorSchema, '5xx': errorSchema }
type KeyParams = { Params: { key: string } }

/** The cloud registry: /api/clouds. */
export function cloudRoutes (bevy: Bevy) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/api/clouds', {
      schema: { summary: 'Every registered cloud with its replica set', tags: ['clouds'], response: { 200: { type: 'object', properties: { clouds: { type: 'array', items: cloudSchema } } }, ...errors } }
    }, async () => ({ clouds: requireOpen(bevy).listClouds() }))

    app.post<{ Body: { key: string, replicas?: number } }>('/api/clouds', {
      schema: {
        summary: 'Register a Hyperdrive as a cloud, or change its replica count',
        tags: ['clouds'],
        body: {
          type: 'object',
          properties: { key: { type: 'string' }, replicas: { type: 'integer', minimum: 1, maximum: MAX_REPLICAS } },
          required: ['key'],
          additionalProperties: false
        },
        response: { 200: cloudSchema, ...errors }
      }
    }, async (request) => {
      const key = parseKey(request.body.key, 'cloud key')
      return requireOpen(bevy).addCloud(key, request.body.replicas ?? bevy.config.replicas)
    })

    app.get<KeyParams>('/api/clouds/:key', { schema: { summary: 'One cloud and its replicas with their sync progress', tags: ['clouds'], response: { 200: cloudSchema, ...errors } } },
      async (request) => requireOpen(bevy).cloudInfo(parseKey(request.params.key, 'cloud key')))

    app.delete<KeyParams>('/api/clouds/:key', {
      schema: { summary: 'Remove a cloud; its replicas are purged', tags: ['clouds'], response: { 200: { type: 'object', properties: { key: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors } }
    }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      await requireOpen(bevy).removeCloud(key)
      return { key: formatKey(key), removed: true }
    })
  }
}

/** Drains (/api/nodes/<id>/drain) and evictions (DELETE /api/nodes/<id>). */
export function nodeRoutes (bevy: Bevy) {
  return async function (app: FastifyInstance): Promise<void> {
    const reply = { 200: { type: 'object', properties: { node: { type: 'string' }, drained: { type: 'boolean' } } }, ...errors }
    app.post<{ Params: { id: string } }>('/api/nodes/:id/drain', { schema: { summary: 'Move every replica off a node (make-before-break)', tags: ['nodes'], response: reply } }, async (request) => {
      const id = parseKey(request.params.id, 'node id')
      await requireOpen(bevy).setDrained(id, true)
      return { node: formatKey(id), drained: true }
    })
    app.delete<{ Params: { id: string } }>('/api/nodes/:id/drain', { schema: { summary: 'Let a drained node take replicas again', tags: ['nodes'], response: reply } }, async (request) => {
      const id = parseKey(request.params.id, 'node id')
      await requireOpen(bevy).setDrained(id, false)
      return { node: formatKey(id), drained: false }
    })
    const evicted = { 200: { type: 'object', properties: { node: { type: 'string' }, evicted: { type: 'boolean' } }, required: ['node', 'evicted'] }, ...errors }
    app.delete<{ Params: { id: string } }>('/api/nodes/:id', { schema: { summary: 'Evict a node: its writer is removed, its connections refused, its replicas move', tags: ['nodes'], response: evicted } }, async (request) => {
      const id = parseKey(request.params.id, 'node id')
      await requireOpen(bevy).evict(id)
      return { node: formatKey(id), evicted: true }
    })
  }
}
