// Who may connect on the members' swarm, by public key (never by address, which is spoofable):
// nodes in the view that were not evicted, and nodes a member here has just admitted by invite
// (they are writers but not yet announced, so the view does not know their node id). A node
// that is not yet in its own view (it is still joining) cannot tell members from strangers, and
// it has nothing to protect yet, so it lets everyone in until its view names it.
import { hexKey, NodeState } from '../protocol/index.js'
import type { ClusterSnapshot } from './view/snapshot.js'

export class PeerFirewall {
  private members = new Set<string>()
  private evicted = new Set<string>()
  private joined = false
  /** Node id (hex) → until when (ms) it may connect without being in the view. */
  private readonly admitted = new Map<string, number>()

  constructor (private readonly selfHex: string, private readonly now: () => number, private readonly admittedTtlMs: number) {}

  /** Takes the members from a new view. */
  update (snapshot: ClusterSnapshot): void {
    this.members = new Set()
    this.evicted = new Set()
    for (const node of snapshot.nodes) {
      if (node.record.state === NodeState.EVICTED) this.evicted.add(node.idHex)
      else this.members.add(node.idHex)
    }
    this.joined = this.members.has(this.selfHex)
    for (const hex of this.members) this.admitted.delete(hex)
  }

  /** A member here admitted this node by invite: it may connect until it shows up in the view. */
  admit (nodeId: Uint8Array): void {
    this.admitted.set(hexKey(nodeId), this.now() + this.admittedTtlMs)
  }

  allows (remoteKey: Uint8Array): boolean {
    const hex = hexKey(remoteKey)
    if (this.evicted.has(hex)) return false
    if (!this.joined || this.members.has(hex)) return true
    const until = this.admitted.get(hex)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.admitted.delete(hex)
    return false
  }
}
