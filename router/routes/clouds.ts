import type { FastifyInstance } from 'fastify'
import type { Bevy } from '../../node/bevy.js'
import { BevyError, ErrorCode, formatKey, MAX_REPLICAS, parseKey } from '../../protocol/index.js'
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
  properties: {
    key: { type: 'string' },
    replicas: { type: 'integer' },
    hosted: { type: 'boolean', description: 'A hosted (multi-writer) cloud: it takes PUT and DELETE at its replicas' },
    base: { type: 'string', description: 'A hosted cloud\'s own Autobase key' },
    placement: placementSchema
  },
  required: ['key', 'replicas', 'hosted', 'placement']
} as const

const createdSchema = {
  ...cloudSchema,
  properties: { ...cloudSchema.properties, token: { type: 'string', description: 'The write token of a hosted cloud just created; shown once' } }
} as const

const errors = { '4xx': errorSchema, '5xx': errorSchema }
type KeyParams = { Params: { key: string } }

/** The cloud registry: /api/clouds. */
export function cloudRoutes (bevy: Bevy) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/api/clouds', {
      schema: { summary: 'Every registered cloud with its replica set', tags: ['clouds'], response: { 200: { type: 'object', properties: { clouds: { type: 'array', items: cloudSchema } } }, ...errors } }
    }, async () => ({ clouds: requireOpen(bevy).listClouds() }))

    app.post<{ Body: { key?: string, replicas?: number, hosted?: boolean } }>('/api/clouds', {
      schema: {
        summary: 'Register a Hyperdrive as a cloud (or change its replica count), or create a hosted cloud with {"hosted":true}',
        tags: ['clouds'],
        body: {
          type: 'object',
          properties: { key: { type: 'string' }, replicas: { type: 'integer', minimum: 1, maximum: MAX_REPLICAS }, hosted: { type: 'boolean' } },
          // A drive's key to register, or hosted: true to create a hosted cloud.
          anyOf: [
            { required: ['key'], properties: { hosted: { const: false } } },
            { required: ['hosted'], properties: { hosted: { const: true } }, not: { required: ['key'] } }
          ],
          additionalProperties: false
        },
        response: { 200: cloudSchema, 201: createdSchema, ...errors }
      }
    }, async (request, reply) => {
      const { key: keyText, hosted = false } = request.body
      const replicas = request.body.replicas ?? bevy.config.replicas
      if (hosted) {
        if (keyText !== undefined) throw new BevyError(ErrorCode.BAD_REQUEST, 'a hosted cloud gets a new key: leave "key" out')
        const created = await requireOpen(bevy).hosted.create(replicas)
        return reply.code(201).send({ ...bevy.cloudInfo(parseKey(created.key, 'cloud key')), token: created.token })
      }
      if (keyText === undefined) throw new BevyError(ErrorCode.BAD_REQUEST, 'give the drive "key" to register, or {"hosted":true} to create a hosted cloud')
      return requireOpen(bevy).addCloud(parseKey(keyText, 'cloud key'), replicas)
    })

    app.post<KeyParams>('/api/clouds/:key/token', {
      schema: {
        summary: 'A new write token for a hosted cloud (the old one stops working)',
        tags: ['clouds'],
        response: { 200: { type: 'object', properties: { key: { type: 'string' }, token: { type: 'string' } }, required: ['key', 'token'] }, ...errors }
      }
    }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      return { key: formatKey(key), token: await requireOpen(bevy).hosted.rotateToken(key) }
    })

    const devicesReply = { 200: { type: 'object', properties: { key: { type: 'string' }, devices: { type: 'array', items: { type: 'string' } } }, required: ['key', 'devices'] }, ...errors }
    app.get<KeyParams>('/api/clouds/:key/devices', { schema: { summary: 'The owner devices authorized to write to a hosted cloud', tags: ['clouds'], response: devicesReply } }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      return { key: formatKey(key), devices: requireOpen(bevy).hosted.devices(key) }
    })
    app.get<KeyParams>('/api/clouds/:key/requests', {
      schema: {
        summary: 'Devices that asked this node to write to a hosted cloud (bevy device request) and are not authorized yet',
        tags: ['clouds'],
        response: {
          200: {
            type: 'object',
            properties: { key: { type: 'string' }, requests: { type: 'array', items: { type: 'object', properties: { device: { type: 'string' }, label: { type: 'string' }, ageMs: { type: 'integer' } } } } },
            required: ['key', 'requests']
          },
          ...errors
        }
      }
    }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      return { key: formatKey(key), requests: requireOpen(bevy).hosted.pendingDevices(key) }
    })
    app.post<KeyParams & { Body: { device: string } }>('/api/clouds/:key/devices', {
      schema: {
        summary: 'Authorize an owner device (its writer key) to write to a hosted cloud over P2P',
        tags: ['clouds'],
        body: { type: 'object', properties: { device: { type: 'string' } }, required: ['device'], additionalProperties: false },
        response: devicesReply
      }
    }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      const hosted = requireOpen(bevy).hosted
      await hosted.setDevice(key, parseKey(request.body.device, 'device key'), true)
      return { key: formatKey(key), devices: hosted.devices(key) }
    })
    app.delete<{ Params: { key: string, device: string } }>('/api/clouds/:key/devices/:device', {
      schema: { summary: 'Deauthorize an owner device: the cloud\'s writers remove it and ignore what it writes later', tags: ['clouds'], response: devicesReply }
    }, async (request) => {
      const key = parseKey(request.params.key, 'cloud key')
      const hosted = requireOpen(bevy).hosted
      await hosted.setDevice(key, parseKey(request.params.device, 'device key'), false)
      return { key: formatKey(key), devices: hosted.devices(key) }
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
