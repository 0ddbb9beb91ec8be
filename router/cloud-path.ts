// Splits and checks the path of a cloud request: /c/<cloud>/<path>. Works on the raw URL so an
// encoded traversal (%2e%2e, %2f) is judged after decoding, exactly as the drive would see it.
import { LRUCache } from 'lru-cache'
import { BevyError, ErrorCode, formatKey, parseKey } from '../protocol/index.js'

export const MAX_CLOUD_PATH_BYTES = 4096

export interface CloudRequestPath {
  /** The cloud key in hex, and in z-base-32 as URLs spell it. */
  cloudHex: string
  cloudText: string
  /** The decoded drive path, always starting with '/'. Ends with '/' for a directory request. */
  path: string
  /** The raw query string without '?', or '' when there is none. */
  query: string
}

/** Parses `/c/<cloud>[/<path>]`, the raw request URL. Throws BAD_KEY or BAD_PATH. */
export function parseCloudUrl (rawUrl: string): CloudRequestPath {
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const query = q === -1 ? '' : rawUrl.slice(q + 1)
  if (!rawPath.startsWith('/c/')) throw new BevyError(ErrorCode.BAD_PATH, 'cloud paths start with /c/<cloud>/')
  const slash = rawPath.indexOf('/', 3)
  const { hex, text } = cloudKeyOf(rawPath.slice(3, slash === -1 ? undefined : slash))
  return { cloudHex: hex, cloudText: text, path: checkDrivePath(slash === -1 ? '/' : rawPath.slice(slash)), query }
}

/**
 * True for a path-addressed cloud root without its slash (`/c/<cloud>`, `/c/<cloud>?q`): it gets a
 * 301 to `/c/<cloud>/` first, or relative links in its pages would resolve one level up.
 */
export function lacksRootSlash (rawUrl: string, parsed: CloudRequestPath): boolean {
  if (parsed.path !== '/') return false
  const q = rawUrl.indexOf('?')
  return !(q === -1 ? rawUrl : rawUrl.slice(0, q)).endsWith('/')
}

/** Decoded keys of recently requested clouds: decoding one is the dearest step of a cached hit. */
const keyCache = new LRUCache<string, { hex: string, text: string }>({ max: 10_000 })

function cloudKeyOf (input: string): { hex: string, text: string } {
  let known = keyCache.get(input)
  if (known === undefined) {
    const key = parseKey(input, 'cloud key') // throws BAD_KEY, and nothing bad is cached
    known = { hex: key.toString('hex'), text: formatKey(key) }
    keyCache.set(input, known)
  }
  return known
}

/** Decodes and checks a raw drive path. Runs on every request: the common clean path skips each step it does not need. */
export function checkDrivePath (rawPath: string): string {
  // UTF-8 takes at most 3 bytes per UTF-16 unit, so a short path needs no byte count.
  if (rawPath.length * 3 > MAX_CLOUD_PATH_BYTES && Buffer.byteLength(rawPath) > MAX_CLOUD_PATH_BYTES) throw new BevyError(ErrorCode.BAD_PATH, `path is longer than ${MAX_CLOUD_PATH_BYTES} bytes`)
  let path = rawPath
  if (rawPath.includes('%')) {
    try {
      path = decodeURIComponent(rawPath)
    } catch {
      throw new BevyError(ErrorCode.BAD_PATH, 'path is not valid percent-encoding')
    }
  }
  if (path.includes('\0')) throw new BevyError(ErrorCode.BAD_PATH, 'path contains a NUL byte')
  if (path.includes('\\')) throw new BevyError(ErrorCode.BAD_PATH, 'path contains a backslash')
  // A dot segment follows a slash (or starts a path that has none).
  if (path.includes('/.') || path.startsWith('.')) {
    for (const segment of path.split('/')) {
      if (segment === '..' || segment === '.') throw new BevyError(ErrorCode.BAD_PATH, 'path contains a dot segment')
    }
  }
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : path
}

/** A z-base-32 cloud key as the first label of a host name: `<cloud>.example.org`. */
const CLOUD_HOST_LABEL = /^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/

/**
 * The cloud a Host header addresses, when its first label is a cloud key, else null. Such a host
 * serves the cloud at its root, so relative and root-relative links in the cloud's pages work.
 */
export function cloudOfHost (host: string | undefined): string | null {
  if (host === undefined) return null
  const dot = host.indexOf('.')
  const label = (dot === -1 ? host.replace(/:\d+$/, '') : host.slice(0, dot)).toLowerCase()
  return CLOUD_HOST_LABEL.test(label) ? label : null
}

/** The path-addressed form (`/c/<cloud>/…`) of a request URL, given the cloud its Host names. */
export function hostAddressedUrl (cloud: string, url: string): string {
  return '/c/' + cloud + (url.startsWith('/') ? url : '/' + url)
}
