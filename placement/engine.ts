// The placement engine: view snapshot → ordered replica set per cloud. Pure and deterministic.
//
// Two phases keep movement minimal:
//  1. The reference assignment ranks clouds over every node that has not left, eligible or not.
//     It changes only when a node joins or leaves for good, a zone or capacity changes, or the
//     cloud registry changes, and it is cached between computations.
//  2. The effective targets keep each cloud's eligible reference targets and replace only the
//     ineligible ones (down, draining, not yet stable), under caps over the eligible nodes.
// So a node going down or draining moves exactly the clouds it had, and nothing else; it is also
// the cheap, incremental path (the reference is reused, only the affected clouds are ranked).
// Make-before-break: a node still holding a cloud it is no longer a target of stays in the set as
// a handoff holder until every target reports synced.
import { assign, orderClouds, rankedNodes, type AssignCloud, type RankedNodes } from './assign.js'
import { weightOf } from './hash.js'
import { loadCaps } from './shares.js'
import type { Holding, PlacementCloud, PlacementInput, PlacementNode, PlacementParams, Replica } from './types.js'

interface Reference {
  nodesKey: string
  clouds: Map<string, number>
  /** Clouds in processing order; a cloud's index here is its position. */
  ordered: AssignCloud[]
  positionOf: Map<string, number>
  nodes: RankedNodes
  /** Members of position p: targets[p * stride .. p * stride + counts[p]), as reference node indices. */
  targets: Int32Array
  counts: Uint8Array
  stride: number
  /** Positions of the clouds each reference node is a target of. */
  cloudsOfNode: number[][]
}

export class PlacementEngine {
  private readonly seedCache = new Map<string, [number, number]>()
  private reference: Reference | null = null

  constructor (readonly params: PlacementParams) {}

  compute (input: PlacementInput): Placement {
    const ref = this.referenceFor(input.nodes, input.clouds)
    const eligibleNodes = input.nodes.filter((n) => n.eligible)
    const eligible = rankedNodes(eligibleNodes)
    const indexOfEligible = new Map(eligible.ids.map((id, i) => [id, i]))
    const toEligible = Int32Array.from(ref.nodes.ids, (id) => indexOfEligible.get(id) ?? -1)

    // Only the clouds that lost a member need work; every other cloud keeps its reference set.
    const affected = new Set<number>()
    toEligible.forEach((e, r) => { if (e === -1) for (const pos of ref.cloudsOfNode[r] as number[]) affected.add(pos) })
    const kept = (pos: number): number[] => {
      const out: number[] = []
      const base = pos * ref.stride
      for (let j = 0; j < (ref.counts[pos] as number); j++) {
        const e = toEligible[ref.targets[base + j] as number] as number
        if (e !== -1) out.push(e)
      }
      return out
    }
    const caps = capsArray(eligible, eligibleNodes, input.clouds, this.params.epsilonPermille)
    const filled = assign(ref.ordered, eligible, caps, kept, [...affected].sort((x, y) => x - y))
    return new Placement(ref, toEligible, eligible.ids, filled, input)
  }

  /** The cached reference assignment, recomputed only when nodes or clouds really changed. */
  private referenceFor (nodes: PlacementNode[], clouds: PlacementCloud[]): Reference {
    const nodesKey = nodes.map((n) => `${n.id}\u0000${n.zone}\u0000${weightOf(n.capacityBytes)}`).sort().join('\u0001')
    const cached = this.reference
    if (cached !== null && cached.nodesKey === nodesKey && sameClouds(cached.clouds, clouds)) return cached
    const ranked = rankedNodes(nodes)
    const ordered = orderClouds(clouds, this.seedCache)
    const caps = capsArray(ranked, nodes, clouds, this.params.epsilonPermille)
    const stride = Math.max(1, ...ordered.map((c) => c.replicas))
    const filled = assign(ordered, ranked, caps, () => [], ordered.keys())
    const targets = new Int32Array(ordered.length * stride)
    const counts = new Uint8Array(ordered.length)
    const cloudsOfNode: number[][] = ranked.ids.map(() => [])
    for (const [pos, members] of filled) {
      counts[pos] = members.length
      members.forEach((m, j) => { targets[pos * stride + j] = m; (cloudsOfNode[m] as number[]).push(pos) })
    }
    this.reference = {
      nodesKey,
      clouds: new Map(clouds.map((c) => [c.key, c.replicas])),
      ordered,
      positionOf: new Map(ordered.map((c, pos) => [c.key, pos])),
      nodes: ranked,
      targets,
      counts,
      stride,
      cloudsOfNode
    }
    for (const key of this.seedCache.keys()) if (!this.reference.clouds.has(key)) this.seedCache.delete(key)
    return this.reference
  }
}

function sameClouds (cached: Map<string, number>, clouds: PlacementCloud[]): boolean {
  if (cached.size !== clouds.length) return false
  for (const c of clouds) if (cached.get(c.key) !== c.replicas) return false
  return true
}

function capsArray (ranked: RankedNodes, nodes: PlacementNode[], clouds: PlacementCloud[], epsilonPermille: number | null): Float64Array {
  const byId = loadCaps(nodes.map((n) => ({ id: n.id, zone: n.zone, weight: weightOf(n.capacityBytes) })), clouds, epsilonPermille)
  return Float64Array.from(ranked.ids, (id) => byId.get(id) as number)
}

/** The outcome of one computation. Replica sets are built on demand, so a large bevy pays only for what it reads. */
export class Placement {
  private servingIds: Set<string> | null = null
  private heldByNode: Map<string, Set<string>> | null = null

  constructor (
    private readonly ref: Reference,
    private readonly toEligible: Int32Array,
    private readonly eligibleIds: string[],
    private readonly filled: Map<number, number[]>,
    private readonly input: PlacementInput,
    /** node id → the clouds it is a target of; built once, shared by withHoldings copies. */
    private readonly targetIndex: { byNode: Map<string, string[]> | null } = { byNode: null }
  ) {}

  /**
   * The same targets with other holdings: what a sync report changes. Targets do not depend on
   * holdings, so nothing is recomputed; only handoff holders are read from the new holdings.
   */
  withHoldings (holdings: PlacementInput['holdings'], heldBy?: PlacementInput['heldBy']): Placement {
    const { heldBy: _stale, ...rest } = this.input
    const input: PlacementInput = heldBy === undefined ? { ...rest, holdings } : { ...rest, holdings, heldBy }
    return new Placement(this.ref, this.toEligible, this.eligibleIds, this.filled, input, this.targetIndex)
  }

  /** The same object for placements with the same targets (withHoldings copies share it). */
  get targetsToken (): object {
    return this.targetIndex
  }

  /** Nodes that may take new targets in this placement. */
  get eligibleNodes (): readonly string[] {
    return this.eligibleIds
  }

  get cloudKeys (): string[] {
    return this.ref.ordered.map((c) => c.key)
  }

  /** The cloud's targets in rank order, or undefined for an unknown cloud. */
  targets (cloudKey: string): string[] | undefined {
    const pos = this.ref.positionOf.get(cloudKey)
    if (pos === undefined) return undefined
    const filled = this.filled.get(pos)
    if (filled !== undefined) return filled.map((e) => this.eligibleIds[e] as string)
    const out: string[] = []
    const base = pos * this.ref.stride
    for (let j = 0; j < (this.ref.counts[pos] as number); j++) {
      const e = this.toEligible[this.ref.targets[base + j] as number] as number
      if (e !== -1) out.push(this.eligibleIds[e] as string)
    }
    return out
  }

  /** Targets, then the handoff holders still needed until every target is synced. */
  replicaSet (cloudKey: string): Replica[] | undefined {
    const targets = this.targets(cloudKey)
    if (targets === undefined) return undefined
    const holdings = this.input.holdings.get(cloudKey) ?? new Map<string, Holding>()
    const set: Replica[] = targets.map((node) => ({ node, role: 'target', synced: holdings.get(node)?.synced ?? false }))
    if (set.every((r) => r.synced)) return set
    const serving = this.servingIds ??= new Set(this.input.nodes.filter((n) => n.serving).map((n) => n.id))
    const handoff = [...holdings.keys()].filter((node) => !targets.includes(node) && serving.has(node)).sort()
    for (const node of handoff) set.push({ node, role: 'handoff', synced: holdings.get(node)?.synced ?? false })
    return set
  }

  /** Target replicas per node. */
  targetLoad (): Map<string, number> {
    const load = new Map<string, number>()
    for (const n of this.input.nodes) load.set(n.id, 0)
    for (const [id, clouds] of this.targetsByNode()) load.set(id, (load.get(id) ?? 0) + clouds.length)
    return load
  }

  /** The clouds the node is a target of, in processing order. */
  targetsOf (nodeId: string): readonly string[] {
    return this.targetsByNode().get(nodeId) ?? []
  }

  /** Clouds whose replica set includes the node, as target or handoff holder. */
  cloudsOf (nodeId: string): string[] {
    const targets = this.targetsOf(nodeId)
    const out = [...targets]
    const held = this.heldBy().get(nodeId)
    if (held === undefined || held.size === 0) return out
    const mine = new Set(targets)
    // A handoff holder is a holder that is not a target (as replicaSet says): only the node's
    // own holdings outside its targets need a look.
    for (const cloud of held) {
      if (mine.has(cloud)) continue
      const set = this.replicaSet(cloud)
      if (set !== undefined && set.some((r) => r.role === 'handoff' && r.node === nodeId)) out.push(cloud)
    }
    return out
  }

  private targetsByNode (): Map<string, string[]> {
    if (this.targetIndex.byNode === null) {
      const m = new Map<string, string[]>()
      for (const key of this.cloudKeys) {
        for (const id of this.targets(key) ?? []) {
          const list = m.get(id)
          if (list === undefined) m.set(id, [key])
          else list.push(key)
        }
      }
      this.targetIndex.byNode = m
    }
    return this.targetIndex.byNode
  }

  private heldBy (): Map<string, Set<string>> {
    if (this.input.heldBy !== undefined) return this.input.heldBy
    if (this.heldByNode === null) {
      const m = new Map<string, Set<string>>()
      for (const [cloud, perNode] of this.input.holdings) {
        for (const node of perNode.keys()) {
          let set = m.get(node)
          if (set === undefined) m.set(node, set = new Set())
          set.add(cloud)
        }
      }
      this.heldByNode = m
    }
    return this.heldByNode
  }
}
