// Liveness between connected nodes: a small protomux channel on every swarm connection. A node
// sends its load every heartbeatIntervalMs; nothing is stored, so this costs no disk, and the
// router judges replicas on it directly instead of waiting for the view.
// Message numbers are APPEND ONLY, like op types.
import c from 'compact-encoding'
import { loadCodec, type Load } from './load.js'
import { struct } from './struct.js'

export const PING_PROTOCOL = 'cloud-bevy/liveness/v1'

/** Append only: the position in the channel's message list. */
export const PingMessage = { PING: 0 } as const

/** `seq` counts this process's pings; a restarted peer starts over on a new connection. */
export interface Ping { seq: number, load: Load }

export const pingCodec = struct<Ping>({ seq: c.uint, load: loadCodec })
