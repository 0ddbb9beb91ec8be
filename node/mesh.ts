// Keeps a direct swarm connection to every member in the view. Nodes that join a topic at the
// same moment often miss each other (Hyperswarm re-queries the DHT only every 10 minutes), and
// the founder may die; joinPeer by member key makes the mesh independent of both.
import type Hyperswarm from 'hyperswarm'
import { isGone } from '../protocol/index.js'
import type { ClusterSnapshot } from './view/snapshot.js'

export class Mesh {
  private readonly joined = new Map<string, Buffer>()

  constructor (private readonly swarm: Hyperswarm, private readonly selfHex: string) {}

  sync (snapshot: ClusterSnapshot): void {
    const wanted = new Map<string, Buffer>()
    for (const node of snapshot.nodes) {
      if (node.idHex === this.selfHex || isGone(node.record.state)) continue
      wanted.set(node.idHex, node.record.nodeId)
    }
    for (const [hex, id] of wanted) {
      if (!this.joined.has(hex)) this.swarm.joinPeer(id)
    }
    for (const [hex, id] of this.joined) {
      if (!wanted.has(hex)) this.swarm.leavePeer(id)
    }
    this.joined.clear()
    for (const [hex, id] of wanted) this.joined.set(hex, id)
  }

  leaveAll (): void {
    for (const id of this.joined.values()) this.swarm.leavePeer(id)
    this.joined.clear()
  }
}
