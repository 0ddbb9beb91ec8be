// Inputs and outputs of placement. Ids and keys are lowercase hex strings.

export interface PlacementNode {
  id: string
  zone: string
  capacityBytes: number
  /** May receive new targets: live, stable since its last recovery, not draining. */
  eligible: boolean
  /** Up enough to keep serving what it holds (live or suspect), so it can hand off. */
  serving: boolean
  /**
   * Takes no new targets (its disk or cloud cap is reached) but keeps the ones it holds. Absent
   * means false. A full node makes targets depend on holdings, so such inputs skip the caches.
   */
  full?: boolean
}

export interface PlacementCloud {
  key: string
  replicas: number
}

/** What a node reports holding for a cloud (from the view's sync records). */
export interface Holding { synced: boolean }

export interface PlacementInput {
  /** Every node that has not left. Order does not matter. */
  nodes: PlacementNode[]
  /** Every registered, not removed cloud. Order does not matter. */
  clouds: readonly PlacementCloud[]
  /** cloud key → node id → holding. */
  holdings: ReadonlyMap<string, ReadonlyMap<string, Holding>>
  /** node id → the clouds it holds: `holdings` indexed by node. Derived from `holdings` when absent. */
  heldBy?: Map<string, Set<string>>
}

export interface PlacementParams {
  /** ε in permille: a node holds at most ⌈(1 + ε)·fair share⌉ replicas. null disables the bound. */
  epsilonPermille: number | null
}

export type ReplicaRole = 'target' | 'handoff'

export interface Replica {
  node: string
  role: ReplicaRole
  synced: boolean
}

