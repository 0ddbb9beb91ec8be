// The head of an HTTP/1.x request, read from the first bytes of a connection before the HTTP
// server sees them. Only what a routing decision needs; anything unusual returns null and the
// connection goes to the full HTTP server instead.

export interface RequestHead {
  method: string
  url: string
  /** Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Map<string, string>
}

/** Heads larger than this are left to the HTTP server, which has its own limits. */
export const MAX_PEEKED_HEAD_BYTES = 16 * 1024
const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/

/** Parses the request head at the start of `chunk`, or null when it is incomplete or odd. */
export function parseRequestHead (chunk: Buffer): RequestHead | null {
  const end = chunk.indexOf('\r\n\r\n')
  if (end === -1 || end > MAX_PEEKED_HEAD_BYTES) return null
  const lines = chunk.toString('latin1', 0, end).split('\r\n')
  const line = REQUEST_LINE.exec(lines[0]!)
  if (line === null) return null
  const headers = new Map<string, string>()
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i]!.indexOf(':')
    if (colon <= 0) return null
    const name = lines[i]!.slice(0, colon).trim().toLowerCase()
    const value = lines[i]!.slice(colon + 1).trim()
    const prior = headers.get(name)
    headers.set(name, prior === undefined ? value : `${prior}, ${value}`)
  }
  return { method: line[1]!, url: line[2]!, minor: Number(line[3]), headers }
}
