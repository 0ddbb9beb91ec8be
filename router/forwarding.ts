// Headers that travel with a request from one node to the next: the standard X-Forwarded-* set,
// and the hop chain that keeps a request from ever being redirected again or proxied in a loop.
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { parseKey } from '../protocol/index.js'

/** Node ids (z-base-32) a request has passed through, comma-separated. Its presence stops redirects. */
export const HOP_HEADER = 'x-bevy-hop'
/** A client asks for proxying instead of a redirect with `X-Bevy-Route: proxy`. */
export const ROUTE_HEADER = 'x-bevy-route'
/** Nodes a request may pass through before a node answers 503 instead of forwarding it again. */
export const MAX_HOPS = 3

/** The nodes a request has already passed through, from its hop header. */
export function hopChain (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  const text = Array.isArray(value) ? value.join(',') : value
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0).slice(0, MAX_HOPS + 1)
}

/** Headers to set on a request this node forwards on behalf of a client. */
export function forwardingHeaders (req: IncomingMessage, hops: readonly string[], self: string): Record<string, string> {
  const client = req.socket.remoteAddress ?? ''
  const priorFor = headerText(req.headers['x-forwarded-for'])
  const proto = headerText(req.headers['x-forwarded-proto']) ?? ((req.socket as TLSSocket).encrypted === true ? 'https' : 'http')
  const host = headerText(req.headers['x-forwarded-host']) ?? headerText(req.headers.host) ?? ''
  return {
    'x-forwarded-for': priorFor === undefined ? client : `${priorFor}, ${client}`,
    'x-forwarded-proto': proto,
    'x-forwarded-host': host,
    [HOP_HEADER]: [...hops, self].join(',')
  }
}

function headerText (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

/** Hex ids of the nodes in a hop chain; entries that are not node ids are ignored. */
export function hopNodeHexes (hops: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (const id of hops) {
    const hex = nodeHexOf(id)
    if (hex !== null) out.add(hex)
  }
  return out
}

/**
 * Decoded hop entries (null: not a node id). A bevy has few nodes and every request on a pinned
 * connection names the one that pinned it, so decoding each time (~1.5 us) is wasted; the cache is
 * emptied when full, so odd headers cannot grow it.
 */
const hexOfHop = new Map<string, string | null>()
const MAX_CACHED_HOPS = 1024

function nodeHexOf (id: string): string | null {
  let hex = hexOfHop.get(id)
  if (hex === undefined) {
    try { hex = parseKey(id, 'node id').toString('hex') } catch { hex = null }
    if (hexOfHop.size >= MAX_CACHED_HOPS) hexOfHop.clear()
    hexOfHop.set(id, hex)
  }
  return hex
}
