// Liveness between connected nodes: a small protomux channel on every swarm connection. A node
// sends its load every heartbeatIntervalMs; nothing is stored, so this costs no disk, and the
// router judges replicas on it directly instead of waiting for the view.
// Message numbers are APPEND ONLY, like op types.
import c from 'compact-encoding'
import { loadCodec, type Load } from './load.js'
import { key32, struct } from './struct.js'

export const PING_PROTOCOL = 'cloud-bevy/liveness/v1'

/** Append only: the position in the channel's message list. */
export const PingMessage = { PING: 0, EPOCH: 1, JOIN_EPOCH: 2 } as const

/** `seq` counts this process's pings; a restarted peer starts over on a new connection. */
export interface Ping { seq: number, load: Load }

export const pingCodec = struct<Ping>({ seq: c.uint, load: loadCodec })

/** Which log the sender writes to: sent when a channel opens and whenever the sender moves. */
export interface EpochAdvert { epoch: number, key: Buffer }
export const epochAdvertCodec = struct<EpochAdvert>({ epoch: c.uint, key: key32 })

/** A member that missed a rotation asks to write in `epoch` with `writerKey`; the channel proves who it is. */
export interface JoinEpochRequest { epoch: number, writerKey: Buffer }
export const joinEpochCodec = struct<JoinEpochRequest>({ epoch: c.uint, writerKey: key32 })
