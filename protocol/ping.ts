// Liveness between connected nodes: a small protomux channel on every swarm connection. A node
// sends its load every heartbeatIntervalMs; nothing is stored, so this costs no disk, and the
// router judges replicas on it directly instead of waiting for the view.
// Message numbers are APPEND ONLY, like op types.
import c from 'compact-encoding'
import { BevyError, ErrorCode } from './errors.js'
import { loadCodec, type Load } from './load.js'
import { key32, struct, type Codec } from './struct.js'

export const PING_PROTOCOL = 'cloud-bevy/liveness/v1'

/** Append only: the position in the channel's message list. */
export const PingMessage = { PING: 0, EPOCH: 1, JOIN_EPOCH: 2 } as const

/** The largest peer message (ping, epoch advert, join request) accepted. */
export const MAX_PEER_MESSAGE_BYTES = 1024

/**
 * A message codec whose decode raises only BevyErrors. Protomux drops the connection on any throw,
 * but its safety-catch rethrows a native one (RangeError, TypeError) as uncaught, which would take
 * the whole node down for one malformed frame.
 */
function message<T> (name: string, codec: Codec<T>): Codec<T> {
  return {
    preencode: codec.preencode,
    encode: codec.encode,
    decode (state) {
      // Every peer message is a few dozen bytes; a bigger frame is a misbehaving peer, dropped.
      if (state.end - state.start > MAX_PEER_MESSAGE_BYTES) throw new BevyError(ErrorCode.BAD_OP, `${name} message is ${state.end - state.start} bytes, over ${MAX_PEER_MESSAGE_BYTES}`)
      try {
        return codec.decode(state)
      } catch (err) {
        throw new BevyError(ErrorCode.BAD_OP, `${name} message is malformed`, { cause: err })
      }
    }
  }
}

/** `seq` counts this process's pings; a restarted peer starts over on a new connection. */
export interface Ping { seq: number, load: Load }

export const pingCodec = message('ping', struct<Ping>({ seq: c.uint, load: loadCodec }))

/** Which log the sender writes to: sent when a channel opens and whenever the sender moves. */
export interface EpochAdvert { epoch: number, key: Buffer }
export const epochAdvertCodec = message('epoch advert', struct<EpochAdvert>({ epoch: c.uint, key: key32 }))

/** A member that missed a rotation asks to write in `epoch` with `writerKey`; the channel proves who it is. */
export interface JoinEpochRequest { epoch: number, writerKey: Buffer }
export const joinEpochCodec = message('join epoch', struct<JoinEpochRequest>({ epoch: c.uint, writerKey: key32 }))
