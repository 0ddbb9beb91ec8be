// `<cloud>.example.org/x` is served as `/c/<cloud>/x`: a cloud on its own origin, so the relative
// and root-relative links in its pages work in browsers. Pass `addressByHost` as Fastify's rewriteUrl.
import type { IncomingMessage } from 'node:http'
import { cloudOfHost, hostAddressedUrl } from './cloud-path.js'

const HOST_ADDRESSED = Symbol('bevy.hostAddressed')
type Marked = IncomingMessage & { [HOST_ADDRESSED]?: boolean }

export function addressByHost (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const cloud = cloudOfHost(req.headers.host)
  if (cloud === null) return url
  ;(req as Marked)[HOST_ADDRESSED] = true
  return hostAddressedUrl(cloud, url)
}

/** True when the request named its cloud by Host and the URL was rewritten to the /c/ form. */
export function isHostAddressed (req: IncomingMessage): boolean {
  return (req as Marked)[HOST_ADDRESSED] === true
}
