// Talking to the bevy nodes a benchmark started: the admin API with the node's own token.
import type { ReadyMessage } from '../../node/cli/start.js'
import { readAdminToken } from '../../node/storage.js'

/** One admin API call to `node` with the token from its storage; throws on a non-2xx answer. */
export async function api<T> (node: ReadyMessage, method: string, path: string, body?: unknown): Promise<T> {
  const token = await readAdminToken(node.storage)
  if (token === null) throw new Error(`no admin token in ${node.storage}`)
  const response = await fetch(node.url.replace(/\/$/, '') + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} on ${node.url}: ${response.status} ${text}`)
  return JSON.parse(text) as T
}
