// 32-byte keys (node ids, bevy keys, cloud keys): accepted as hex or z-base-32, printed as z-base-32.
import * as idEncoding from 'hypercore-id-encoding'
import { BevyError, ErrorCode } from './errors.js'

export const KEY_BYTES = 32

export function parseKey (input: unknown, what = 'key'): Buffer {
  if (typeof input !== 'string' || !(input.length === 64 || input.length === 52)) {
    throw new BevyError(ErrorCode.BAD_KEY, `${what} must be 64 hex or 52 z-base-32 characters`)
  }
  try {
    const key = idEncoding.decode(input)
    if (key.byteLength !== KEY_BYTES) throw new Error('wrong length')
    return key
  } catch (err) {
    throw new BevyError(ErrorCode.BAD_KEY, `${what} is not a valid 32-byte key`, { cause: err })
  }
}

export function formatKey (key: Uint8Array): string {
  return idEncoding.encode(key)
}

/** Hex form, used inside view keys so their byte order sorts the same everywhere. */
export function hexKey (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}
