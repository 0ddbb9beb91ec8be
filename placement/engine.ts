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
// Recomputations are the common case (every node recomputes when its liveness judgement changes):
// they read each cloud's ranking off the reference's instead of ranking every node again, and a
// node input seen lately (another node judging alike) gets the computation already made.
import { assign, CLOSED_CAP, orderClouds, rankAmong, rankedNodes, rankTop, type AssignCloud, type RankedNodes } from './assign.js'
import { weightOf } from './hash.js'
import { Refilled } from './refilled.js'
import { loadCaps, replicaCounts, type ReplicaCounts } from './shares.js'
import type { Holding, PlacementCloud, PlacementInput, PlacementNode, PlacementParams, Replica } from './types.js'

/**
 * How deep each cloud's ranking over the reference nodes is kept: a recomputation with some nodes
 * down reads the best eligible nodes from it instead of ranking every node again.
 */
const RANKING_DEPTH_PER_REPLICA = 4
const RANKING_DEPTH_MIN = 16
/**
 * Computations kept per reference for observers whose node input is the same (restarted nodes
 * often agree). In a 1000-node churn storm 8 recomputed a third of the inputs again; 32 catch
 * nearly every repeat, at a few MB each.
 */
const RECENT_MAX = 32
const NO_HOLDINGS: PlacementInput['holdings'] = new Map()

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
  /** Positions of the clouds each reference node is a target of, ascending. */
  cloudsOfNode: number[][]
  /** Reference node index by id. */
  indexOf: Map<string, number>
  /** Per position: the best reference nodes, rankings[p * rankingDepth .. + rankingCounts[p]). */
  rankings: Int32Array
  rankingCounts: Uint16Array
  rankingDepth: number
  /** Deeper rankings, made for the clouds whose kept one ran out of eligible nodes. */
  deepRankings: Map<number, Int32Array>
  /** Results for node inputs seen lately, without holdings (see compute). */
  recent: Map<string, Placement>
  /** Frozen cloud lists known to match `clouds`: frozen, they cannot have changed since. */
  checkedClouds: WeakSet<readonly PlacementCloud[]>
  /** The clouds per replica count, for load caps (the reference is for exactly these clouds). */
  replicaCounts: ReplicaCounts
  /** Stands for this reference: see Placement.referenceToken. */
  token: object
}

export class PlacementEngine {
  private readonly seedCache = new Map<string, [number, number]>()
  private reference: Reference | null = null

  constructor (readonly params: PlacementParams) {}

  compute (input: PlacementInput): Placement {
    const ref = this.referenceFor(input.nodes, input.clouds)
    // A full node keeps only the targets it holds: then targets depend on holdings too, and
    // the per-input cache below would not see them change. Full nodes are rare; compute afresh.
    if (input.nodes.some((n) => n.full === true)) return this.computeTargets(ref, input)
    // The targets are a function of the node input and the reference alone: observers that judge
    // every node alike (a bevy's nodes, restarted ones that caught up) share one computation.
    const key = nodeInputKey(input.nodes)
    const seen = ref.recent.get(key)
    if (seen !== undefined) {
      ref.recent.delete(key)
      ref.recent.set(key, seen)
      return seen.withHoldings(input.holdings, input.heldBy)
    }
    const placement = this.computeTargets(ref, input)
    // Kept without holdings, so an old view's holdings are not held on to.
    ref.recent.set(key, placement.withHoldings(NO_HOLDINGS))
    if (ref.recent.size > RECENT_MAX) ref.recent.delete(ref.recent.keys().next().value as string)
    return placement
  }

  private computeTargets (ref: Reference, input: PlacementInput): Placement {
    const eligibleNodes = input.nodes.filter((n) => n.eligible)
    // Eligible nodes are reference nodes: their seeds are there already.
    const eligible = rankedNodes(eligibleNodes, (id) => ref.nodes.seeds[ref.indexOf.get(id) as number] as number)
    const indexOfEligible = new Map(eligible.ids.map((id, i) => [id, i]))
    const toEligible = Int32Array.from(ref.nodes.ids, (id) => indexOfEligible.get(id) ?? -1)

    // Only the clouds that lost a member need work; every other cloud keeps its reference set.
    // Flags read in position order give them ascending, the order assign fills in, without a sort.
    const affected = new Uint8Array(ref.ordered.length)
    // A reference member that stays eligible is kept wherever it is a member; a full one only
    // where it holds the cloud already.
    const full = fullNodes(input, ref)
    const keeps = (pos: number, r: number): boolean => full === null || full[r] === 0 ||
      input.holdings.get((ref.ordered[pos] as AssignCloud).key)?.has(ref.nodes.ids[r] as string) === true
    const keptLoad = new Float64Array(eligible.ids.length)
    toEligible.forEach((e, r) => {
      const positions = ref.cloudsOfNode[r] as number[]
      if (e === -1) for (const pos of positions) affected[pos] = 1
      else if (full === null || full[r] === 0) keptLoad[e] = positions.length
      else for (const pos of positions) if (keeps(pos, r)) keptLoad[e]++; else affected[pos] = 1
    })
    const kept = (pos: number): number[] => {
      const out: number[] = []
      const base = pos * ref.stride
      for (let j = 0; j < (ref.counts[pos] as number); j++) {
        const r = ref.targets[base + j] as number
        const e = toEligible[r] as number
        if (e !== -1 && keeps(pos, r)) out.push(e)
      }
      return out
    }
    const all = ref.nodes.ids.length
    const rank = (pos: number, cloud: AssignCloud, k: number): number[] => {
      const deep = ref.deepRankings.size === 0 ? undefined : ref.deepRankings.get(pos)
      const found = deep === undefined
        ? rankAmong(ref.rankings, pos * ref.rankingDepth, ref.rankingCounts[pos] as number, ref.rankingCounts[pos] === all, toEligible, k)
        : rankAmong(deep, 0, deep.length, deep.length === all, toEligible, k)
      if (found !== null) return found
      // Rank this cloud deeper over the reference nodes, once for every later computation too.
      const deeper = Int32Array.from(rankTop(cloud, ref.nodes, Math.min(all, 2 * Math.max(k, deep?.length ?? ref.rankingDepth))))
      ref.deepRankings.set(pos, deeper)
      return rankAmong(deeper, 0, deeper.length, deeper.length === all, toEligible, k) ?? rankTop(cloud, eligible, k)
    }
    const caps = capsArray(eligible, eligibleNodes, ref.replicaCounts, this.params.epsilonPermille)
    if (full !== null) toEligible.forEach((e, r) => { if (e !== -1 && full[r] === 1) caps[e] = CLOSED_CAP })
    const filled = assign(ref.ordered, eligible, caps, kept, flaggedPositions(affected), { keptLoad, rank })
    // assign counted every kept and chosen member into keptLoad: each node's final target count.
    const index: TargetIndex = { token: {}, byNode: new Map(), positionsByNode: new Map(), loads: keptLoad, indexOfEligible, refill: null }
    return new Placement(ref, toEligible, eligible.ids, Refilled.pack(filled), input, index)
  }

  /** The cached reference assignment, recomputed only when nodes or clouds really changed. */
  private referenceFor (nodes: PlacementNode[], clouds: readonly PlacementCloud[]): Reference {
    const nodesKey = nodes.map((n) => `${n.id}\u0000${n.zone}\u0000${weightOf(n.capacityBytes)}`).sort().join('\u0001')
    const cached = this.reference
    if (cached !== null && cached.nodesKey === nodesKey && (cached.checkedClouds.has(clouds) || sameClouds(cached.clouds, clouds))) {
      if (!cached.checkedClouds.has(clouds) && frozenList(clouds)) cached.checkedClouds.add(clouds)
      return cached
    }
    const ranked = rankedNodes(nodes)
    const ordered = orderClouds(clouds, this.seedCache)
    const cloudCounts = replicaCounts(clouds)
    const caps = capsArray(ranked, nodes, cloudCounts, this.params.epsilonPermille)
    const stride = Math.max(1, ...ordered.map((c) => c.replicas))
    // Each cloud's first ranking is kept deeper than assign asks, for later recomputations.
    const rankingDepth = Math.min(ranked.ids.length, Math.max(RANKING_DEPTH_MIN, RANKING_DEPTH_PER_REPLICA * stride))
    const rankings = new Int32Array(ordered.length * rankingDepth)
    const rankingCounts = new Uint16Array(ordered.length)
    const rank = (pos: number, cloud: AssignCloud, k: number): number[] => {
      if (k > rankingDepth || rankingCounts[pos] !== 0) return rankTop(cloud, ranked, k)
      const top = rankTop(cloud, ranked, rankingDepth)
      rankings.set(top, pos * rankingDepth)
      rankingCounts[pos] = top.length
      return top.length > k ? top.slice(0, k) : top
    }
    const noneKept: number[] = []
    const filled = assign(ordered, ranked, caps, () => noneKept, ordered.keys(), { keptLoad: new Float64Array(ranked.ids.length), rank })
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
      cloudsOfNode,
      indexOf: new Map(ranked.ids.map((id, r) => [id, r])),
      rankings,
      rankingCounts,
      rankingDepth,
      deepRankings: new Map(),
      recent: new Map(),
      checkedClouds: new WeakSet(frozenList(clouds) ? [clouds] : []),
      replicaCounts: cloudCounts,
      token: {}
    }
    for (const key of this.seedCache.keys()) if (!this.reference.clouds.has(key)) this.seedCache.delete(key)
    return this.reference
  }
}

/** Per reference node, 1 when it is full; null when no node is (the common case). */
function fullNodes (input: PlacementInput, ref: Reference): Uint8Array | null {
  if (!input.nodes.some((n) => n.full === true)) return null
  const flags = new Uint8Array(ref.nodes.ids.length)
  for (const n of input.nodes) if (n.full === true) flags[ref.indexOf.get(n.id) as number] = 1
  return flags
}

/** The positions whose flag is set, ascending. */
function flaggedPositions (flags: Uint8Array): number[] {
  const out: number[] = []
  for (let pos = 0; pos < flags.length; pos++) if (flags[pos] === 1) out.push(pos)
  return out
}

/** A list whose entries cannot change: PlacementRunner passes one per cloud registry. */
function frozenList (clouds: readonly PlacementCloud[]): boolean {
  return Object.isFrozen(clouds) && clouds.every((c) => Object.isFrozen(c))
}

function sameClouds (cached: Map<string, number>, clouds: readonly PlacementCloud[]): boolean {
  if (cached.size !== clouds.length) return false
  for (const c of clouds) if (cached.get(c.key) !== c.replicas) return false
  return true
}

/** Everything of the node input a computation reads. */
function nodeInputKey (nodes: PlacementNode[]): string {
  let key = ''
  for (const n of nodes) key += `${n.id}:${n.zone}:${n.capacityBytes}:${n.eligible ? 1 : 0}${n.serving ? 1 : 0},`
  return key
}

function capsArray (ranked: RankedNodes, nodes: PlacementNode[], clouds: ReplicaCounts, epsilonPermille: number | null): Float64Array {
  const byId = loadCaps(nodes.map((n) => ({ id: n.id, zone: n.zone, weight: weightOf(n.capacityBytes) })), clouds, epsilonPermille)
  return Float64Array.from(ranked.ids, (id) => byId.get(id) as number)
}

/** What a computation knows of each node's targets; shared by withHoldings copies. */
interface TargetIndex {
  /** Stands for these targets: see targetsToken. */
  token: object
  /** node id → the clouds it is a target of, built per node on first ask. */
  byNode: Map<string, readonly string[]>
  /** node id → the positions of those clouds, built per node on first ask. */
  positionsByNode: Map<string, Int32Array>
  /** Target count per eligible node. */
  loads: Float64Array
  indexOfEligible: Map<string, number>
  /** The refilled positions, and per eligible node the refilled positions it is a member of. */
  refill: { refilled: Uint8Array, positionsOf: number[][] } | null
}

/** The outcome of one computation. Replica sets are built on demand, so a large bevy pays only for what it reads. */
export class Placement {
  private servingIds: Set<string> | null = null
  private heldByNode: Map<string, Set<string>> | null = null

  constructor (
    private readonly ref: Reference,
    private readonly toEligible: Int32Array,
    private readonly eligibleIds: string[],
    private readonly filled: Refilled,
    private readonly input: PlacementInput,
    private readonly targetIndex: TargetIndex
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
    // A bare object, so holding on to it does not hold the index.
    return this.targetIndex.token
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
    const filled = this.filled.membersAt(pos)
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
    this.eligibleIds.forEach((id, e) => load.set(id, this.targetIndex.loads[e] as number))
    return load
  }

  /** How many clouds the node is a target of: targetsOf(nodeId).length, without listing them. */
  targetCount (nodeId: string): number {
    const e = this.targetIndex.indexOfEligible.get(nodeId)
    return e === undefined ? 0 : this.targetIndex.loads[e] as number
  }

  /** The clouds the node is a target of, in processing order. */
  targetsOf (nodeId: string): readonly string[] {
    const index = this.targetIndex
    let clouds = index.byNode.get(nodeId)
    if (clouds === undefined) {
      const { ordered } = this.ref
      const keys: string[] = []
      for (const pos of this.targetPositionsOf(nodeId)) keys.push((ordered[pos] as AssignCloud).key)
      index.byNode.set(nodeId, clouds = keys)
    }
    return clouds
  }

  /**
   * Stands for the reference assignment this placement was computed from: placements with the
   * same one number clouds alike, so their target positions compare.
   */
  get referenceToken (): object {
    return this.ref.token
  }

  /**
   * targetsOf(nodeId) as the clouds' positions in processing order (ascending): a caller that
   * only asks whether a node's targets changed compares these without listing keys.
   */
  targetPositionsOf (nodeId: string): Int32Array {
    const index = this.targetIndex
    let positions = index.positionsByNode.get(nodeId)
    if (positions === undefined) index.positionsByNode.set(nodeId, positions = this.listTargetPositionsOf(nodeId))
    return positions
  }

  /** Whether the cloud's replica set includes the node: cloudsOf(nodeId).includes(cloudKey), for one cloud. */
  inReplicaSet (cloudKey: string, nodeId: string): boolean {
    const targets = this.targets(cloudKey)
    if (targets === undefined) return false
    if (targets.includes(nodeId)) return true
    // Only a holder can be a handoff holder.
    if (this.input.holdings.get(cloudKey)?.has(nodeId) !== true) return false
    return (this.replicaSet(cloudKey) as Replica[]).some((r) => r.node === nodeId)
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

  /**
   * Read off the reference, not cloud by cloud: a node keeps its reference positions except in the
   * refilled clouds, whose members are all listed in `filled`. Both lists are ascending (filled
   * is in processing order), so one merge gives the node's clouds in processing order.
   */
  private listTargetPositionsOf (nodeId: string): Int32Array {
    const { ref, targetIndex: index } = this
    const e = index.indexOfEligible.get(nodeId)
    if (e === undefined) return new Int32Array(0)
    const refill = index.refill ??= this.refilledPositions()
    const kept = ref.cloudsOfNode[ref.indexOf.get(nodeId) as number] as number[]
    const added = refill.positionsOf[e] as number[]
    const positions = new Int32Array(kept.length + added.length)
    let at = 0
    let j = 0
    for (const pos of kept) {
      if (refill.refilled[pos] === 1) continue
      while (j < added.length && (added[j] as number) < pos) positions[at++] = added[j++] as number
      positions[at++] = pos
    }
    while (j < added.length) positions[at++] = added[j++] as number
    return at === positions.length ? positions : positions.slice(0, at)
  }

  private refilledPositions (): NonNullable<TargetIndex['refill']> {
    const refilled = new Uint8Array(this.ref.ordered.length)
    const positionsOf: number[][] = this.eligibleIds.map(() => [])
    for (const pos of this.filled.positions) refilled[pos] = 1
    this.filled.forEachMember((pos, e) => (positionsOf[e] as number[]).push(pos))
    return { refilled, positionsOf }
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
