// Talks to a running node's admin API: the local one through --storage, or any one via --url.
import { BevyError, ErrorCode } from '../../protocol/index.js'
import { readAdminToken, readNodeFile } from '../storage.js'

export interface AdminTarget { url: string, token: string }

export async function resolveTarget (opts: { storage: string, url?: string, token?: string }): Promise<AdminTarget> {
  if (opts.url !== undefined) {
    const token = opts.token ?? await readAdminToken(opts.storage)
    if (token === null) throw new BevyError(ErrorCode.BAD_CONFIG, '--url needs --token (or a --storage holding admin.token)')
    return { url: opts.url.replace(/\/+$/, ''), token }
  }
  const node = await readNodeFile(opts.storage)
  const token = opts.token ?? await readAdminToken(opts.storage)
  if (node === null || token === null) {
    throw new BevyError(ErrorCode.NODE_UNREACHABLE, `no node has run in ${opts.storage}; start one with \`bevy start\`, or pass --url and --token`)
  }
  return { url: node.url, token }
}

export async function adminRequest<T> (target: AdminTarget, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response
  try {
    response = await fetch(target.url + path, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000)
    })
  } catch (err) {
    throw new BevyError(ErrorCode.NODE_UNREACHABLE, `cannot reach the node at ${target.url} (is \`bevy start\` running?)`, { cause: err })
  }
  const text = await response.text()
  let parsed: unknown = null
  try { parsed = text.length > 0 ? JSON.parse(text) : null } catch {}
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string, message?: string } } | null)?.error
    const code = response.status === 400 ? ErrorCode.BAD_REQUEST : (response.status === 401 ? ErrorCode.UNAUTHORIZED : ErrorCode.NODE_UNREACHABLE)
    throw new BevyError(code, `${target.url}${path}: ${response.status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim())
  }
  return parsed as T
}
