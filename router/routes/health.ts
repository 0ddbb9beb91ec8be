import type { FastifyInstance } from 'fastify'

/** GET /api/health: unauthenticated liveness probe for load balancers and scripts. */
export async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/api/health', {
    schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } }
  }, async () => ({ ok: true }))
}
