// Runs placement on this node: turns the view and this node's liveness judgement into the
// engine's input, recomputes only when that input changed, and reconciles what this node holds
// (acknowledges clouds it is a target of, lets go of clouds it is no longer needed for).
import { NodeState, OpType, type Clock, type Op } from '../protocol/index.js'
import { PlacementEngine, type LivenessTracker, type Placement, type PlacementInput } from '../placement/index.js'
import type { NodeConfig } from './config.js'
import type { ClusterSnapshot } from './view/snapshot.js'

export interface RunnerDeps {
  config: NodeConfig
  tracker: LivenessTracker
  clock: Clock
  selfHex: string
  nextLamport: () => number
}

export class PlacementRunner {
  private readonly engine: PlacementEngine
  private placement: Placement | null = null
  private inputSnapshot: ClusterSnapshot | null = null
  private inputFlags = ''
  /** What this node last asked the view to record per cloud, until the view shows it. */
  private readonly sent = new Map<string, boolean>()

  constructor (private readonly deps: RunnerDeps) {
    this.engine = new PlacementEngine({ epsilonPermille: deps.config.loadEpsilonPermille })
  }

  /** The current placement, recomputed if the snapshot or anyone's liveness changed. */
  current (snapshot: ClusterSnapshot): Placement {
    const now = this.deps.clock.now()
    const { config, tracker } = this.deps
    const nodes = snapshot.nodes.filter((n) => n.record.state !== NodeState.LEFT).map((n) => {
      const state = tracker.state(n.idHex, now)
      return {
        id: n.idHex,
        zone: n.record.zone,
        capacityBytes: n.record.capacity,
        eligible: !n.drained && tracker.stable(n.idHex, now, config.rejoinStableMs),
        serving: state !== 'down'
      }
    })
    const flags = nodes.map((n) => `${n.eligible ? 1 : 0}${n.serving ? 1 : 0}`).join('')
    if (this.placement !== null && snapshot === this.inputSnapshot && flags === this.inputFlags) return this.placement
    const input: PlacementInput = {
      nodes,
      clouds: snapshot.clouds.map((c) => ({ key: c.keyHex, replicas: c.replicas })),
      holdings: snapshot.holdings
    }
    this.placement = this.engine.compute(input)
    this.inputSnapshot = snapshot
    this.inputFlags = flags
    return this.placement
  }

  /**
   * The ops that bring this node's holdings in line with the placement. Until cloud replication
   * lands, a target counts as synced as soon as it acknowledges the cloud.
   */
  reconcile (snapshot: ClusterSnapshot): Op[] {
    const placement = this.current(snapshot)
    const self = this.deps.selfHex
    // cloudsOf is computed once per placement, so an idle tick costs only this node's own clouds.
    const wanted = new Map<string, boolean>(placement.cloudsOf(self).map((cloud) => [cloud, true]))
    for (const [cloud, perNode] of snapshot.holdings) if (perNode.has(self) && !wanted.has(cloud)) wanted.set(cloud, false)

    const ops: Op[] = []
    for (const [cloud, want] of wanted) {
      const holds = snapshot.holdings.get(cloud)?.has(self) ?? false
      if (holds === want) {
        this.sent.delete(cloud)
        continue
      }
      if (this.sent.get(cloud) === want) continue // asked already; the view has not caught up yet
      this.sent.set(cloud, want)
      ops.push({ type: OpType.CLOUD_HOLD, lamport: this.deps.nextLamport(), key: Buffer.from(cloud, 'hex'), nodeId: Buffer.from(self, 'hex'), held: want, synced: want })
    }
    return ops
  }
}
