// The cluster view as one side of the network sees it. Autobase replicates every writer's log to
// every connected peer within milliseconds, so nodes that can reach each other hold the same ops
// and build the same view: the simulator keeps one view per connected group (one, unless the
// network is partitioned), applied by the real apply and read by the real snapshot code.
//
// Liveness is each node's own judgement, from when it saw heartbeats advance. Nodes of a group
// see the same ops at the same moments, so they judge alike and share one Observer (tracker and
// placement runner). A node whose judgement really differs gets its own: a restarted process
// (fresh tracker), a paused one (frozen tracker), or one with a skewed clock.
import type { Clock } from '../protocol/index.js'
import type { HeartbeatSighting, LivenessTracker, PlacementEngine, Placement } from '../placement/index.js'
import type { NodeConfig } from '../node/config.js'
import { PlacementRunner } from '../node/placement-runner.js'
import { applyNodes, type ApplyContext, type InputNode } from '../node/view/apply.js'
import { readSnapshot, refreshSnapshot, EMPTY_SNAPSHOT, type ClusterSnapshot } from '../node/view/snapshot.js'
import { ChangeTrackingStore, MemoryViewStore } from '../node/view/view-store.js'

type LivenessConfig = Pick<NodeConfig, 'suspectAfterMs' | 'downAfterMs' | 'rejoinStableMs' | 'loadEpsilonPermille'>

export class Observer {
  readonly runner: PlacementRunner
  placement: Placement | null = null
  /** A paused process judges nothing until it runs again. */
  frozen = false

  constructor (readonly tracker: LivenessTracker, readonly clock: Clock, config: LivenessConfig, engine: PlacementEngine) {
    this.runner = new PlacementRunner({ config, tracker, clock, engine })
  }

  /** Sees the heartbeats in `snapshot`, as a node's readView does. */
  observe (snapshot: ClusterSnapshot): void {
    if (this.frozen) return
    this.tracker.observeAll(heartbeatsOf(snapshot), this.clock.now())
  }

  recompute (snapshot: ClusterSnapshot): Placement {
    this.placement = this.runner.current(snapshot)
    return this.placement
  }
}

/** Every node's heartbeat sequence per snapshot node list, read once for all the observers of a view. */
const heartbeatLists = new WeakMap<ClusterSnapshot['nodes'], ReadonlyArray<{ id: string, seq: number }>>()

function heartbeatsOf (snapshot: ClusterSnapshot): readonly HeartbeatSighting[] {
  let list = heartbeatLists.get(snapshot.nodes)
  if (list === undefined) heartbeatLists.set(snapshot.nodes, list = snapshot.nodes.map((n) => ({ id: n.idHex, seq: n.heartbeat?.seq ?? 0, clockMs: n.heartbeat?.clockMs })))
  return list
}

/** One op in flight or applied: the writer's key and the encoded op. */
export type LoggedOp = InputNode

export class ViewGroup {
  readonly store: ChangeTrackingStore
  snapshot: ClusterSnapshot = EMPTY_SNAPSHOT
  readonly observer: Observer
  /** Ops applied since the whole network was last one group, for the merge at heal time. */
  log: LoggedOp[] | null = null

  constructor (
    readonly id: number,
    private readonly mem: MemoryViewStore,
    observer: Observer,
    private readonly applyContext: ApplyContext
  ) {
    this.store = new ChangeTrackingStore(mem)
    this.observer = observer
  }

  /** Applies ops through the real apply and refreshes the snapshot. Returns the view keys written. */
  async apply (ops: LoggedOp[]): Promise<Set<string>> {
    if (ops.length === 0) return new Set()
    await applyNodes(ops, this.store, NO_WRITER_HOST, this.applyContext)
    this.log?.push(...ops)
    const before = this.snapshot
    const changes = this.store.takeChanges()
    this.snapshot = before === EMPTY_SNAPSHOT ? await readSnapshot(this.store) : await refreshSnapshot(before, this.store, changes)
    return changes
  }

  /** The other side of a split: the same view and judgement, from here on its own. */
  split (id: number, makeObserver: (tracker: LivenessTracker) => Observer): ViewGroup {
    const other = new ViewGroup(id, this.mem.clone(), makeObserver(this.observer.tracker.clone()), this.applyContext)
    other.snapshot = this.snapshot
    this.log ??= []
    other.log = [...this.log]
    return other
  }

  /** Takes in every op `other` applied that this group may lack (duplicates are skipped as stale). */
  async absorb (other: ViewGroup): Promise<void> {
    await this.apply(other.log ?? [])
  }
}

/** The simulator has no Autobase: writer membership lives only in the view's records. */
const NO_WRITER_HOST = { async addWriter () {}, async removeWriter () { return true } }
