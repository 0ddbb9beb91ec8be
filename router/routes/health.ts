import type { FastifyInstance } from 'fastify'

/** GET /api/health: unauthenticated liveness probe for load balancers and scripts. */
export async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/api/health', {
    // security: [] says in the OpenAPI document what the app's auth hook does: no token needed.
    schema: { summary: 'Liveness probe', tags: ['operations'], security: [], response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } }
  }, async () => ({ ok: true }))
}
