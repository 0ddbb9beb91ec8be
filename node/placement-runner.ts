// Runs placement on this node: turns the view and this node's liveness judgement into the
// engine's input, and recomputes only when that input changed. A heartbeat changes the view
// but not the input, and a sync report changes only holdings, which targets do not depend on.
import { isGone, type Clock } from '../protocol/index.js'
import { PlacementEngine, type LivenessTracker, type Placement, type PlacementCloud, type PlacementNode } from '../placement/index.js'
import type { NodeConfig } from './config.js'
import type { ClusterSnapshot } from './view/snapshot.js'

export interface RunnerDeps {
  config: Pick<NodeConfig, 'loadEpsilonPermille'>
  tracker: LivenessTracker
  clock: Clock
  /** An engine to share with other runners over the same view (its reference cache is reused). */
  engine?: PlacementEngine
}

interface Computed {
  placement: Placement
  nodes: PlacementNode[]
  clouds: ClusterSnapshot['clouds']
  holdings: ClusterSnapshot['holdings']
}

/**
 * The engine's cloud input per cloud list of a snapshot (snapshots share the list until the
 * clouds change), frozen so the engine can trust a list it checked once; shared by every runner.
 */
const cloudInputs = new WeakMap<ClusterSnapshot['clouds'], readonly PlacementCloud[]>()

export class PlacementRunner {
  readonly engine: PlacementEngine
  private last: Computed | null = null

  constructor (private readonly deps: RunnerDeps) {
    this.engine = deps.engine ?? new PlacementEngine({ epsilonPermille: deps.config.loadEpsilonPermille })
  }

  /** The current placement, recomputed if the nodes, their liveness or the clouds changed. */
  current (snapshot: ClusterSnapshot): Placement {
    // Just after a stop (SIGSTOP, a frozen VM) the ages are stale until the view is read again:
    // keep the last judgement rather than take every node, this one included, for down.
    if (this.last !== null && this.deps.tracker.stale(this.deps.clock.now())) return this.last.placement
    const nodes = this.inputNodes(snapshot)
    const last = this.last
    // A full node's targets follow its holdings, so then new holdings mean a new computation.
    const targetsIgnoreHoldings = !nodes.some((n) => n.full === true)
    if (last !== null && sameNodeInput(last.nodes, nodes) && last.clouds === snapshot.clouds && (targetsIgnoreHoldings || last.holdings === snapshot.holdings)) {
      if (last.holdings === snapshot.holdings) return last.placement
      this.last = { ...last, placement: last.placement.withHoldings(snapshot.holdings, snapshot.heldBy), holdings: snapshot.holdings }
      return this.last.placement
    }
    const placement = this.engine.compute({
      nodes,
      clouds: this.cloudsOf(snapshot),
      holdings: snapshot.holdings,
      heldBy: snapshot.heldBy
    })
    this.last = { placement, nodes, clouds: snapshot.clouds, holdings: snapshot.holdings }
    return placement
  }

  private cloudsOf (snapshot: ClusterSnapshot): readonly PlacementCloud[] {
    let clouds = cloudInputs.get(snapshot.clouds)
    if (clouds === undefined) {
      clouds = Object.freeze(snapshot.clouds.map((c) => Object.freeze({ key: c.keyHex, replicas: c.replicas })))
      cloudInputs.set(snapshot.clouds, clouds)
    }
    return clouds
  }

  /** The engine's node input as this runner judges it now: what placement decides from. */
  inputNodes (snapshot: ClusterSnapshot): PlacementNode[] {
    const now = this.deps.clock.now()
    const { tracker } = this.deps
    return snapshot.nodes.filter((n) => !isGone(n.record.state)).map((n) => ({
      id: n.idHex,
      zone: n.record.zone,
      capacityBytes: n.record.capacity,
      eligible: !n.drained && tracker.stable(n.idHex, now),
      serving: tracker.state(n.idHex, now) !== 'down',
      full: n.full
    }))
  }
}

/** Field by field, what the engine reads of each node: compared every tick, so no key string is built. */
function sameNodeInput (a: readonly PlacementNode[], b: readonly PlacementNode[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as PlacementNode
    const y = b[i] as PlacementNode
    if (x.id !== y.id || x.zone !== y.zone || x.capacityBytes !== y.capacityBytes || x.eligible !== y.eligible || x.serving !== y.serving || x.full !== y.full) return false
  }
  return true
}
