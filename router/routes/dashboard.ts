// The operator dashboard: static files from router/dashboard/ (plain ES modules, shipped as they
// are, so nothing is built on the user's side) and one event stream that pushes the whole page
// state (nodes, clouds, recent events) whenever it changes.
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { Bevy } from '../../node/bevy.js'
import { packagePath } from '../../node/package-root.js'
import { EventStreams } from '../sse.js'
import { errorSchema } from '../schemas.js'
import { requireOpen } from './require-open.js'

/** The page's files, shipped as they are in the package's router/dashboard/. */
export const DASHBOARD_DIR = packagePath('router', 'dashboard') + '/'

/** Bursts of view updates (a heartbeat from every node) become one push at most this often. */
const COALESCE_MS = 250

/** The page may load only its own files and talk only to its own node. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

export function dashboardRoutes (bevy: Bevy) {
  return async function (app: FastifyInstance): Promise<void> {
    await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/dashboard/', index: false, schemaHide: true })

    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('Content-Security-Policy', CSP).header('X-Content-Type-Options', 'nosniff').header('Cache-Control', 'no-cache')
      return reply.sendFile('index.html')
    })

    const streams = new EventStreams()
    streams.endOnClose(app)

    app.get('/api/dashboard/stream', {
      schema: {
        summary: 'Server-Sent Events: `state` events with {status, clouds, events}, on every change and at least every dashboardRefreshMs',
        tags: ['dashboard'],
        response: { 200: { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, '4xx': errorSchema, '5xx': errorSchema }
      }
    }, async (_request, reply) => {
      requireOpen(bevy) // 503 before the stream starts, not a silent stream
      let timer: NodeJS.Timeout | null = null
      const push = () => {
        if (timer !== null) return
        timer = setTimeout(() => {
          timer = null
          if (bevy.opened && bevy.closing === null) events.send('state', dashboardState(bevy))
        }, COALESCE_MS)
      }
      const ticker = setInterval(push, bevy.config.dashboardRefreshMs)
      const events = streams.start(reply, () => {
        clearInterval(ticker)
        if (timer !== null) clearTimeout(timer)
        bevy.off('update', push)
        bevy.off('node-state', push)
        bevy.events.off('event', push)
      })
      events.send('state', dashboardState(bevy))
      bevy.on('update', push)
      bevy.on('node-state', push)
      bevy.events.on('event', push)
    })
  }
}

export function dashboardState (bevy: Bevy) {
  return { status: bevy.status(), clouds: bevy.listClouds(), events: bevy.events.recent().slice(-50) }
}
