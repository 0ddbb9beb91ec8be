// Decides what brings this node's holdings in line with the placement: clouds to open, clouds to
// purge and the hold records to write. Pure apart from its memory of what it already asked for;
// the node and the simulator both drive it.
import { OpType, type Op } from '../protocol/index.js'
import type { Placement } from '../placement/index.js'
import type { ClusterSnapshot } from './view/snapshot.js'

export interface ReconcilerDeps {
  selfHex: string
  nextLamport: () => number
}

export interface ReconcileActions {
  ops: Op[]
  /** Clouds to open locally (placement wants them here). */
  open: string[]
  /** Clouds to purge locally (placement no longer needs them here). */
  release: string[]
}

/** What the reconcile step needs to know of this node's local copies. */
export interface LocalHoldings {
  /** True while a cloud is open, opening or being purged here. */
  holds: (cloudHex: string) => boolean
  /** True once this run purged the cloud's local copy (and has not reopened it). */
  released: (cloudHex: string) => boolean
  /** True once the local copy of a cloud was complete; null while it is still opening. */
  synced: (cloudHex: string) => boolean | null
  heldClouds: () => Iterable<string>
}

export class Reconciler {
  /** What this node last asked the view to record per cloud, until the view shows it. */
  private readonly sent = new Map<string, string>()

  constructor (private readonly deps: ReconcilerDeps) {}

  /**
   * A cloud is reported let go only once its local copy is gone, and synced only once the local
   * copy says so, so a crash between steps just repeats a step. Costs O(this node's clouds).
   */
  reconcile (snapshot: ClusterSnapshot, placement: Placement, local: LocalHoldings): ReconcileActions {
    const self = this.deps.selfHex
    const wanted = new Set(placement.cloudsOf(self))
    const candidates = new Set(wanted)
    for (const cloud of snapshot.heldBy.get(self) ?? []) candidates.add(cloud)
    for (const cloud of local.heldClouds()) candidates.add(cloud)

    const actions: ReconcileActions = { ops: [], open: [], release: [] }
    for (const cloud of candidates) this.decide(cloud, wanted.has(cloud), snapshot, local, actions)
    return actions
  }

  /**
   * The same decisions for the given clouds only, for a caller that knows no other cloud's inputs
   * changed since it last reconciled (a completed sync or purge changes one cloud). Costs
   * O(clouds given). A cloud that is neither wanted nor held anywhere gets no action, as in a
   * full reconcile, which does not look at it.
   */
  reconcileClouds (clouds: Iterable<string>, snapshot: ClusterSnapshot, placement: Placement, local: LocalHoldings): ReconcileActions {
    const self = this.deps.selfHex
    const actions: ReconcileActions = { ops: [], open: [], release: [] }
    for (const cloud of clouds) this.decide(cloud, placement.inReplicaSet(cloud, self), snapshot, local, actions)
    return actions
  }

  /** One cloud's step: whether to open or purge it here, and which hold record to ask for. */
  private decide (cloud: string, want: boolean, snapshot: ClusterSnapshot, local: LocalHoldings, actions: ReconcileActions): void {
    const self = this.deps.selfHex
    const holdsLocally = local.holds(cloud)
    const inView = snapshot.holdings.get(cloud)?.get(self)
    // Let go only of what is purged here: an open copy, or one the view says this node holds
    // (it may be on disk from before a crash), is purged first.
    const purging = !want && (holdsLocally || (inView !== undefined && !local.released(cloud)))
    if (want && !holdsLocally) actions.open.push(cloud)
    if (purging) {
      // The view keeps saying this node holds the cloud until the purge is done.
      actions.release.push(cloud)
      this.sent.delete(cloud)
      return
    }
    const held = want
    // A copy still opening (after a restart) is not known yet: keep what the view says.
    const synced = held && (local.synced(cloud) ?? inView?.synced ?? false)
    if (inView === undefined ? !held : (held && inView.synced === synced)) {
      this.sent.delete(cloud)
      return
    }
    const fingerprint = `${held ? 1 : 0}${synced ? 1 : 0}`
    if (this.sent.get(cloud) === fingerprint) return // asked already; the view has not caught up yet
    this.sent.set(cloud, fingerprint)
    actions.ops.push({ type: OpType.CLOUD_HOLD, lamport: this.deps.nextLamport(), key: Buffer.from(cloud, 'hex'), nodeId: Buffer.from(self, 'hex'), held, synced })
  }
}
