// Cloud content: GET|HEAD /c/<cloud>/<path>. A node with a synced copy serves it; any other node
// redirects to a live, synced replica, or answers 503 when there is none.
import type { FastifyInstance } from 'fastify'
import type { CloudRoute } from '../../node/bevy.js'
import { BevyError, ErrorCode } from '../../protocol/index.js'
import { parseCloudUrl } from '../cloud-path.js'
import { serveDrivePath } from '../drive-response.js'

/** Set on a request a node forwards, so the next node never sends it on again. */
export const HOP_HEADER = 'x-bevy-hop'
/** Seconds a client should wait before retrying a cloud with no replica up. */
const RETRY_AFTER_S = 5

/** Decides where a cloud's requests are answered (the node, or a stand-in in tests). */
export interface CloudSource { routeCloud: (keyHex: string) => CloudRoute }

export function cloudContentRoutes (source: CloudSource) {
  return async function (app: FastifyInstance): Promise<void> {
    app.route({
      method: ['GET', 'HEAD'],
      url: '/c/*',
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        const rawUrl = request.raw.url ?? request.url
        const { cloudHex, cloudText, path, query } = parseCloudUrl(rawUrl)
        const mount = '/c/' + cloudText
        if (path === '/' && !rawUrl.split('?', 1)[0]!.endsWith('/')) {
          // The cloud root needs its slash, or relative links in its pages resolve one level up.
          return reply.code(301).header('Location', mount + '/' + (query === '' ? '' : '?' + query)).send()
        }
        const route = source.routeCloud(cloudHex)
        if (route.kind === 'local') return serveDrivePath(request, reply, { drive: route.drive, driveHex: cloudHex, path, query, mount })
        if (route.kind === 'remote' && request.headers[HOP_HEADER] === undefined) {
          return reply.code(307).header('Location', route.url.replace(/\/$/, '') + rawUrl).header('Cache-Control', 'no-store').send()
        }
        reply.header('Retry-After', String(RETRY_AFTER_S))
        throw new BevyError(ErrorCode.NO_REPLICA, 'no live, synced replica of this cloud right now')
      }
    })
  }
}
