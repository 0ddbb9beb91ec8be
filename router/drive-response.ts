// Answers a GET or HEAD for one path of a Hyperdrive: files with ETag, conditional requests and
// byte ranges, index.html for directories, and listings. Bodies are streamed from the blob
// store, never buffered whole. Knows HTTP and drives, nothing about bevies.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BlobId, DriveEntry } from 'hyperdrive'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import mime from 'mime-types'
import parseRange from 'range-parser'
import { BevyError, ErrorCode } from '../protocol/index.js'

/** How long a read waits for a block this replica lacks (it is fetched from peers). */
const BLOCK_WAIT_MS = 15_000
/** Listings stop after this many entries; `truncated` says so. */
const MAX_LISTING_ENTRIES = 10_000
/** Files up to this size are kept whole in memory once read, so hot small files skip the drive. */
const CACHED_FILE_MAX_BYTES = 64 * 1024
/** Memory the small-file cache may use in all. */
const FILE_CACHE_BYTES = 32 * 1024 * 1024

/** What a response needs to know of one file at one version of a drive. */
interface FileMeta {
  etag: string
  size: number
  contentType: string
  blob: BlobId | null
  /** The whole file, for small files; null means stream it from the blob store. */
  body: Buffer | null
}

/**
 * Small files by (drive, version, path). A drive version never changes its bytes, so an entry
 * never goes stale; the LRU only bounds memory.
 */
const fileCache = new LRUCache<string, FileMeta>({
  maxSize: FILE_CACHE_BYTES,
  sizeCalculation: (meta) => meta.size + 256
})

/**
 * What serving needs of a drive: an owner's Hyperdrive has it all, and a hosted cloud's index
 * offers the same (node/hosted/hosted-drive.ts).
 */
export interface ServableDrive {
  readonly version: number
  /** Names the drive's content for the file cache when its key alone does not (hosted indexes can be reordered). */
  readonly cacheId?: string
  checkout (version: number): ServableDrive
  close (): Promise<void>
  entry (path: string, opts?: { timeout?: number }): Promise<DriveEntry | null>
  getBlobs (): Promise<{
    get (id: BlobId, opts?: { timeout?: number }): Promise<Buffer | null>
    createReadStream (id: BlobId, opts?: { start?: number, length?: number, wait?: boolean }): Readable
  } | null>
  readdir (folder: string, opts?: { wait?: boolean }): AsyncIterable<string>
  /** Hosted clouds only: every write of a path, winner or not, oldest first. */
  writes?: (path: string) => Promise<PathWrite[]>
  /** Hosted clouds only: the drive as one write of `path` left it, or null if there was no such write. */
  atWrite?: (path: string, id: string) => Promise<ServableDrive | null>
}

/** One write of a path in a hosted cloud's history. */
export interface PathWrite { id: string, clock: number, writer: string, deleted: boolean, size: number, sha256: string, mtimeMs: number, current: boolean }

export interface DriveRequest {
  drive: ServableDrive
  /** The drive key in hex (names its cache entries). */
  driveHex: string
  /** Decoded drive path starting with '/'; a trailing '/' asks for a directory. */
  path: string
  /** Raw query string, kept on redirects. */
  query: string
  /** The URL prefix the drive is mounted at, for redirects (e.g. /c/<cloud>). */
  mount: string
}

export async function serveDrivePath (request: FastifyRequest, reply: FastifyReply, req: DriveRequest): Promise<FastifyReply> {
  const params = req.query === '' ? null : new URLSearchParams(req.query)
  // A hosted cloud keeps every write of a path: ?writes lists them, ?write=<id> serves one.
  if (params !== null && req.drive.writes !== undefined && (params.has('writes') || params.has('write'))) return serveWrites(request, reply, req, params)
  const version = req.query === '' ? null : requestedVersion(req.query, req.drive.version)
  const drive = version === null ? req.drive : req.drive.checkout(version)
  if (version !== null) reply.raw.once('close', () => { drive.close().catch(() => {}) })
  reply.header('X-Bevy-Version', String(version ?? drive.version))

  const pinned = version !== null
  if (!req.path.endsWith('/')) {
    const file = await lookupFile(drive, req.driveHex, req.path)
    if (file !== null) return sendFile(request, reply, drive, file, pinned)
    if (await isDirectory(drive, req.path)) {
      return reply.code(301).header('Location', req.mount + encodePath(req.path) + '/' + (req.query === '' ? '' : '?' + req.query)).send()
    }
    throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'no such file in this cloud')
  }
  const wantsJson = prefersJson(request.headers.accept)
  if (!wantsJson) {
    const index = await lookupFile(drive, req.driveHex, req.path + 'index.html')
    if (index !== null) return sendFile(request, reply, drive, index, pinned)
  }
  if (req.path !== '/' && !await isDirectory(drive, req.path.slice(0, -1))) throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'no such directory in this cloud')
  const listing = await listDirectory(drive, req.path)
  if (wantsJson) return reply.header('Cache-Control', 'no-cache').send({ path: req.path, version: version ?? drive.version, ...listing })
  return reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache').send(listingHtml(req.path, listing.entries))
}

async function serveWrites (request: FastifyRequest, reply: FastifyReply, req: DriveRequest, params: URLSearchParams): Promise<FastifyReply> {
  if (req.path.endsWith('/')) throw new BevyError(ErrorCode.BAD_PATH, 'a directory has no writes of its own')
  const id = params.get('write')
  if (id === null) {
    const writes = await (req.drive.writes as NonNullable<ServableDrive['writes']>)(req.path)
    if (writes.length === 0) throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'this path was never written')
    return reply.header('Cache-Control', 'no-cache').send({ path: req.path, writes })
  }
  const drive = await (req.drive.atWrite as NonNullable<ServableDrive['atWrite']>)(req.path, id)
  if (drive === null) throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'no such write of this path (see ?writes)')
  const file = await lookupFile(drive, req.driveHex, req.path)
  if (file === null) throw new BevyError(ErrorCode.FILE_NOT_FOUND, 'that write deleted the file')
  return sendFile(request, reply, drive, file, true)
}

function requestedVersion (query: string, latest: number): number | null {
  const raw = new URLSearchParams(query).get('version')
  if (raw === null) return null
  const version = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN
  if (!(version >= 1 && version <= latest)) throw new BevyError(ErrorCode.BAD_VERSION, `version must be a whole number from 1 to ${latest}`)
  return version
}

/** A file at the drive's (or checkout's) version: from the small-file cache, else the drive; null if absent. */
async function lookupFile (drive: ServableDrive, driveHex: string, path: string): Promise<FileMeta | null> {
  const cacheKey = `${drive.cacheId ?? driveHex}:${drive.version}:${path}`
  const cached = fileCache.get(cacheKey)
  if (cached !== undefined) return cached
  const entry = await drive.entry(path, { timeout: BLOCK_WAIT_MS })
  return entry === null ? null : fileMeta(drive, entry, cacheKey)
}

/** Reads what serving an entry needs; small files are read whole and cached under `cacheKey`. */
async function fileMeta (drive: ServableDrive, entry: DriveEntry, cacheKey: string): Promise<FileMeta> {
  const blob = entry.value.blob
  const size = blob?.byteLength ?? 0
  const meta: FileMeta = {
    // An entry's seq names one write of one path, so it changes whenever the bytes do.
    etag: `"${entry.seq.toString(36)}-${size.toString(36)}"`,
    size,
    contentType: mime.contentType(entry.key.slice(entry.key.lastIndexOf('/') + 1)) || 'application/octet-stream',
    blob,
    body: null
  }
  if (blob === null || size > CACHED_FILE_MAX_BYTES) return meta
  const blobs = await drive.getBlobs()
  const body = blobs === null ? null : await blobs.get(blob, { timeout: BLOCK_WAIT_MS })
  if (body === null) return meta // not here yet: stream it (the read waits for the blocks)
  meta.body = body
  fileCache.set(cacheKey, meta)
  return meta
}

async function sendFile (request: FastifyRequest, reply: FastifyReply, drive: ServableDrive, meta: FileMeta, pinned: boolean): Promise<FastifyReply> {
  const { etag, size, blob, body } = meta
  reply.header('ETag', etag)
  reply.header('Accept-Ranges', 'bytes')
  reply.header('Cache-Control', pinned ? 'public, max-age=31536000, immutable' : 'no-cache')
  reply.header('Content-Type', meta.contentType)

  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()

  let start = 0
  let length = size
  const range = request.headers.range
  const ifRange = request.headers['if-range']
  if (range !== undefined && (ifRange === undefined || ifRange === etag)) {
    const ranges = parseRange(size, range, { combine: true })
    if (ranges === -1) {
      return reply.code(416).type('application/json; charset=utf-8').removeHeader('etag').header('Content-Range', `bytes */${size}`).send({ error: { code: 'RANGE_NOT_SATISFIABLE', message: `file is ${size} bytes` } })
    }
    // Malformed ranges are ignored (RFC 9110); several ranges fall back to the whole file.
    if (Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1) {
      const only = ranges[0] as { start: number, end: number }
      start = only.start
      length = only.end - only.start + 1
      reply.code(206).header('Content-Range', `bytes ${only.start}-${only.end}/${size}`)
    }
  }
  reply.header('Content-Length', String(length))
  if (request.method === 'HEAD' || length === 0 || blob === null) return reply.send()
  if (body !== null) return reply.send(length === size ? body : body.subarray(start, start + length))
  const blobs = await drive.getBlobs()
  if (blobs === null) throw new BevyError(ErrorCode.NOT_READY, 'the cloud\'s content is not available yet')
  return reply.send(blobs.createReadStream(blob, { start, length, wait: true }))
}

function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t === etag || t === 'W/' + etag
  })
}

function prefersJson (accept: string | undefined): boolean {
  if (accept === undefined) return false
  return accept.includes('application/json') && !accept.includes('text/html')
}

async function isDirectory (drive: ServableDrive, path: string): Promise<boolean> {
  for await (const _ of drive.readdir(path, { wait: true })) return true
  return false
}

export interface ListingEntry { name: string, type: 'file' | 'directory', size?: number }

async function listDirectory (drive: ServableDrive, dir: string): Promise<{ entries: ListingEntry[], truncated: boolean }> {
  const entries: ListingEntry[] = []
  for await (const name of drive.readdir(dir, { wait: true })) {
    if (entries.length === MAX_LISTING_ENTRIES) return { entries, truncated: true }
    const entry = await drive.entry(dir + name, { timeout: BLOCK_WAIT_MS })
    entries.push(entry === null ? { name, type: 'directory' } : { name, type: 'file', size: entry.value.blob?.byteLength ?? 0 })
  }
  return { entries, truncated: false }
}

function listingHtml (dir: string, entries: ListingEntry[]): string {
  const rows = entries.map((e) => {
    const href = encodeURIComponent(e.name) + (e.type === 'directory' ? '/' : '')
    return `<li><a href="${href}">${escapeHtml(e.name)}${e.type === 'directory' ? '/' : ''}</a></li>`
  })
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(dir)}</title><h1>${escapeHtml(dir)}</h1><ul>${rows.join('')}</ul>\n`
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

function encodePath (path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}
