// JSON schemas shared by routes (request validation and fast response serialisation).
export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code'] } },
  required: ['error']
} as const

const loadSchema = {
  type: ['object', 'null'],
  properties: {
    cpu: { type: 'number' },
    mem: { type: 'number' },
    eventLoop: { type: 'number' },
    rssBytes: { type: 'integer' },
    memFreeBytes: { type: 'integer' },
    connections: { type: 'integer' }
  }
} as const

export const statusSchema = {
  type: 'object',
  properties: {
    node: {
      type: 'object',
      properties: { id: { type: 'string' }, url: { type: 'string' }, zone: { type: 'string' }, diskBytes: { type: 'integer' }, replicasHeld: { type: 'integer' } }
    },
    bevy: { type: 'string' },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          url: { type: 'string' },
          zone: { type: 'string' },
          state: { type: 'string', enum: ['live', 'suspect', 'down', 'draining', 'left'] },
          indexer: { type: 'boolean' },
          capacity: { type: 'integer' },
          full: { type: 'boolean' },
          load: loadSchema,
          heartbeatSeq: { type: ['integer', 'null'] },
          heartbeatAgeMs: { type: ['integer', 'null'] },
          clouds: { type: 'integer' },
          cloudBytes: { type: 'integer' }
        }
      }
    }
  }
} as const

export const inviteBodySchema = {
  type: ['object', 'null'],
  properties: {
    ttlMs: { type: 'integer', minimum: 1000, maximum: 365 * 24 * 3600_000 },
    uses: { type: 'integer', minimum: 1, maximum: 10_000 }
  },
  additionalProperties: false
} as const

export const inviteReplySchema = {
  type: 'object',
  properties: { invite: { type: 'string' }, expiresAt: { type: 'string' }, uses: { type: 'integer' } },
  required: ['invite']
} as const
