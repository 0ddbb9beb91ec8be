import type { Bevy } from '../../node/bevy.js'
import { BevyError, ErrorCode } from '../../protocol/index.js'

/** The node, if it is in its bevy; routes that need the cluster log answer 503 until then. */
export function requireOpen (bevy: Bevy): Bevy {
  if (!bevy.opened || bevy.closing !== null) throw new BevyError(ErrorCode.NOT_READY, 'node is still joining its bevy')
  return bevy
}
