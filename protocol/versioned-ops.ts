// The framing every op log shares: version (uint) · type (uint) · body, with one body codec per
// type. The cluster log's ops (ops.ts) and a hosted cloud's (hosted.ts) are both framed so.
import c from 'compact-encoding'
import { BevyError, ErrorCode } from './errors.js'
import type { Codec } from './struct.js'

export interface OpFraming<T extends { type: number }> {
  encode (op: T): Buffer
  /** Decodes one op. Anything malformed raises a BevyError and never anything else. */
  decode (bytes: unknown): T
}

/** Frames ops of `version` with the body codecs by type; `what` names them in errors ("op", "hosted op"). */
export function opFraming<T extends { type: number }> (what: string, version: number, bodies: Readonly<Record<number, Codec<unknown>>>): OpFraming<T> {
  return {
    encode (op) {
      const codec = bodies[op.type] as Codec<T>
      const state = { start: 0, end: 0, buffer: null as Buffer | null }
      c.uint.preencode(state, version)
      c.uint.preencode(state, op.type)
      codec.preencode(state, op)
      state.buffer = Buffer.allocUnsafe(state.end)
      c.uint.encode(state, version)
      c.uint.encode(state, op.type)
      codec.encode(state, op)
      return state.buffer
    },
    decode (bytes) {
      if (!(bytes instanceof Uint8Array)) throw new BevyError(ErrorCode.BAD_OP, `${what} is not bytes`)
      // Keys decode as views of the input, so only a Buffer input gives the Buffers ops promise.
      const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const state = { start: 0, end: buffer.byteLength, buffer }
      let found: number
      let type: number
      try {
        found = c.uint.decode(state)
        type = c.uint.decode(state)
      } catch (err) {
        throw new BevyError(ErrorCode.BAD_OP, `${what} header is truncated`, { cause: err })
      }
      if (found !== version) throw new BevyError(ErrorCode.UNSUPPORTED_VERSION, `${what} version ${found} is not supported`)
      const codec = bodies[type]
      if (codec === undefined) throw new BevyError(ErrorCode.UNKNOWN_OP, `${what} type ${type} is unknown`)
      let body: unknown
      try {
        body = codec.decode(state)
      } catch (err) {
        throw new BevyError(ErrorCode.BAD_OP, `${what} type ${type} has a malformed body`, { cause: err })
      }
      if (state.start !== state.end) throw new BevyError(ErrorCode.BAD_OP, `${what} type ${type} has ${state.end - state.start} trailing bytes`)
      return { type, ...(body as object) } as T
    }
  }
}
