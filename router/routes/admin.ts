import type { FastifyInstance } from 'fastify'
import type { Bevy } from '../../node/bevy.js'
import { errorSchema, inviteBodySchema, inviteReplySchema, statusSchema } from '../schemas.js'
import { requireOpen } from './require-open.js'

/** Operator routes. Auth is enforced by the app's onRequest hook for every /api/* route but health. */
export function adminRoutes (bevy: Bevy) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/api/status', {
      schema: { summary: 'The nodes of the bevy as this node sees them', tags: ['nodes'], response: { 200: statusSchema, '4xx': errorSchema, '5xx': errorSchema } }
    }, async () => requireOpen(bevy).status())

    app.post<{ Body: { ttlMs?: number, uses?: number } | null }>('/api/invites', {
      schema: { summary: 'A new invite for another machine to join with', tags: ['nodes'], body: inviteBodySchema, response: { 200: inviteReplySchema, '4xx': errorSchema, '5xx': errorSchema } }
    }, async (request) => {
      const opts: { ttlMs?: number, uses?: number } = {}
      if (request.body?.ttlMs !== undefined) opts.ttlMs = request.body.ttlMs
      if (request.body?.uses !== undefined) opts.uses = request.body.uses
      const invite = await requireOpen(bevy).createInvite(opts)
      return { invite: invite.text, expiresAt: new Date(invite.expiresMs).toISOString(), uses: invite.uses }
    })

    app.post<{ Body: { invite: string } }>('/api/invites/revoke', {
      schema: {
        summary: 'Revoke an invite: no member admits anyone with it any more',
        tags: ['nodes'],
        body: { type: 'object', properties: { invite: { type: 'string', minLength: 1, maxLength: 1024 } }, required: ['invite'], additionalProperties: false },
        response: { 200: { type: 'object', properties: { revoked: { type: 'boolean' } }, required: ['revoked'] }, '4xx': errorSchema, '5xx': errorSchema }
      }
    }, async (request) => {
      await requireOpen(bevy).revokeInvite(request.body.invite)
      return { revoked: true }
    })

    app.post('/api/leave', {
      schema: {
        summary: 'Leave the bevy for good and stop this node. 409 STILL_HOLDING while it holds replicas: drain it first (`bevy leave` does it all)',
        tags: ['nodes'],
        response: { 200: { type: 'object', properties: { node: { type: 'string' }, left: { type: 'boolean' } }, required: ['node', 'left'] }, '4xx': errorSchema, '5xx': errorSchema }
      }
    }, async () => {
      const node = requireOpen(bevy)
      await node.leave()
      return { node: node.idText, left: true }
    })
  }
}
