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

/** A buffer codec that rejects values over a byte bound on decode. */
export function boundedBuffer (maxBytes: number): Codec<Buffer> {
  return {
    preencode: (s, v) => c.buffer.preencode(s, v),
    encode: (s, v) => c.buffer.encode(s, v),
    decode (s) {
      const v = c.buffer.decode(s)
      if (v === null) return Buffer.alloc(0)
      if (v.byteLength > maxBytes) throw new RangeError(`buffer over ${maxBytes} bytes`)
      return v as Buffer
    }
  }
}

/** An array codec that rejects more than `maxItems` items on decode, before decoding them. */
export function boundedArray<T> (item: Codec<T>, maxItems: number): Codec<T[]> {
  return {
    preencode (s, v) {
      c.uint.preencode(s, v.length)
      for (const x of v) item.preencode(s, x)
    },
    encode (s, v) {
      c.uint.encode(s, v.length)
      for (const x of v) item.encode(s, x)
    },
    decode (s) {
      const n = c.uint.decode(s)
      if (n > maxItems) throw new RangeError(`array over ${maxItems} items`)
      const out: T[] = []
      for (let i = 0; i < n; i++) out.push(item.decode(s))
      return out
    }
  }
}

export const key32: Codec<Buffer> = c.fixed32 as unknown as Codec<Buffer>
