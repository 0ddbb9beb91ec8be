// Builds a compact-encoding codec for a flat record from an ordered list of fields.
// Field order is the wire order: append new fields at the end, never reorder.
import c from 'compact-encoding'

// compact-encoding's State interface is not exported by name, so derive it from a codec.
export type State = Parameters<typeof c.uint.encode>[0]
type Codec<T> = { preencode (s: State, v: T): void, encode (s: State, v: T): void, decode (s: State): T }

export type Fields<T> = { [K in keyof T]: Codec<T[K]> }

export function struct<T extends object> (fields: Fields<T>): Codec<T> {
  const entries = Object.entries(fields) as Array<[keyof T & string, Codec<unknown>]>
  return {
    preencode (state, value) {
      for (const [name, codec] of entries) codec.preencode(state, value[name])
    },
    encode (state, value) {
      for (const [name, codec] of entries) codec.encode(state, value[name])
    },
    decode (state) {
      const out: Record<string, unknown> = {}
      for (const [name, codec] of entries) out[name] = codec.decode(state)
      return out as T
    }
  }
}

export type { Codec }

/** A string codec that rejects values over a byte bound on decode, so peers cannot bloat records. */
export function boundedString (maxBytes: number): Codec<string> {
  return {
    preencode: (s, v) => c.string.preencode(s, v),
    encode: (s, v) => c.string.encode(s, v),
    decode (s) {
      const v = c.string.decode(s)
      if (Buffer.byteLength(v) > maxBytes) throw new RangeError(`string over ${maxBytes} bytes`)
      return v
    }
  }
}

export const key32: Codec<Buffer> = c.fixed32 as unknown as Codec<Buffer>
