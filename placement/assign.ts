// Assigns target replicas to clouds: weighted rendezvous ranking, zone spread, bounded load.
// Pure and deterministic: integer scores, clouds in hash order, ties broken by node id.
import { negLog2Score, pairHash, seedsOf, weightOf } from './hash.js'

export interface RankedNodes {
  ids: string[]
  zones: string[]
  weights: Float64Array
  /** Per-node hash seed, as int32 bits. */
  seeds: Int32Array
  /** Zone of each node as a small integer, for cheap comparisons. */
  zoneIdx: Int32Array
  /** Distinct zones among the nodes. */
  zoneCount: number
  /** All weights equal: the ranking is then by raw hash, with no logarithm needed. */
  uniform: boolean
}

export interface AssignCloud { key: string, replicas: number, a: number, b: number }

/** `seedOf`, when given, must return seedsOf(id)[0] | 0: a caller that has the seeds spares hashing every id again. */
export function rankedNodes (nodes: Array<{ id: string, zone: string, capacityBytes: number }>, seedOf?: (id: string) => number): RankedNodes {
  // Sorting by id makes every array position mean the same node on every machine.
  const sorted = [...nodes].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  const seed = seedOf ?? ((id: string) => seedsOf(id)[0] | 0)
  return {
    ids: sorted.map((n) => n.id),
    zones: sorted.map((n) => n.zone),
    weights: Float64Array.from(sorted, (n) => weightOf(n.capacityBytes)),
    seeds: Int32Array.from(sorted, (n) => seed(n.id)),
    zoneIdx: zoneIndices(sorted.map((n) => n.zone)),
    zoneCount: new Set(sorted.map((n) => n.zone)).size,
    uniform: new Set(sorted.map((n) => weightOf(n.capacityBytes))).size <= 1
  }
}

function zoneIndices (zones: string[]): Int32Array {
  const names = [...new Set(zones)].sort()
  const index = new Map(names.map((z, i) => [z, i]))
  return Int32Array.from(zones, (z) => index.get(z) as number)
}

/**
 * Clouds in the fixed order every node processes them in: more replicas first (the clouds with
 * the fewest choices must not find their only nodes filled by clouds that had alternatives), then
 * by hash, then key.
 */
export function orderClouds (clouds: ReadonlyArray<{ key: string, replicas: number }>, seedCache: Map<string, [number, number]>): AssignCloud[] {
  const out = clouds.map((c) => {
    let seeds = seedCache.get(c.key)
    if (seeds === undefined) {
      seeds = seedsOf(c.key)
      seedCache.set(c.key, seeds)
    }
    return { key: c.key, replicas: c.replicas, a: seeds[0], b: seeds[1] }
  })
  return out.sort((x, y) => (y.replicas - x.replicas) || (x.a - y.a) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
}

/**
 * The `k` best nodes for a cloud, best first. Node i beats node j when
 * score_i / w_i < score_j / w_j (weighted rendezvous: the smallest -log(u)/w wins), compared by
 * cross-multiplication so it stays exact; ties go to the higher raw hash, then the lower id.
 * With equal weights that order is exactly the raw hash order, which needs no logarithm.
 */
export function rankTop (cloud: AssignCloud, nodes: RankedNodes, k: number): number[] {
  return nodes.uniform ? rankByHash(cloud, nodes, k) : rankByWeightedScore(cloud, nodes, k)
}

// Scratch buffers for rankByHash, reused across calls (placement is synchronous) to spare the GC.
let scratchIdx = new Int32Array(64)
let scratchKey = new Int32Array(64)

function rankByHash (cloud: AssignCloud, nodes: RankedNodes, k: number): number[] {
  const { seeds, ids } = nodes
  const a = cloud.a | 0
  const b = cloud.b | 0
  if (scratchIdx.length < k) {
    scratchIdx = new Int32Array(k * 2)
    scratchKey = new Int32Array(k * 2)
  }
  // A sorted insertion buffer. Keys are the hashes with the top bit flipped, so that signed int32
  // comparison gives the unsigned order; most nodes are rejected by one comparison with the k-th.
  const topIdx = scratchIdx
  const topKey = scratchKey
  let count = 0
  let worst = -0x80000000
  for (let i = 0; i < seeds.length; i++) {
    // pairHash, inlined by hand in int32 arithmetic: this loop runs C × N times.
    let h = ((a ^ (seeds[i] as number)) + b) | 0
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    const key = h ^ 0x80000000
    if (key < worst) continue
    let at = count
    while (at > 0) {
      const other = topKey[at - 1] as number
      if (key < other || (key === other && (ids[i] as string) > (ids[topIdx[at - 1] as number] as string))) break
      at--
    }
    if (at === k) continue
    for (let j = Math.min(count, k - 1); j > at; j--) {
      topIdx[j] = topIdx[j - 1] as number
      topKey[j] = topKey[j - 1] as number
    }
    topIdx[at] = i
    topKey[at] = key
    if (count < k) count++
    if (count === k) worst = topKey[k - 1] as number
  }
  return Array.from(topIdx.subarray(0, count))
}

function hashBeats (h1: number, i1: number, h2: number, i2: number, ids: string[]): boolean {
  return h1 !== h2 ? h1 > h2 : (ids[i1] as string) < (ids[i2] as string)
}

function rankByWeightedScore (cloud: AssignCloud, nodes: RankedNodes, k: number): number[] {
  const { seeds, weights, ids } = nodes
  const top: number[] = []
  const topScore: number[] = []
  const topHash: number[] = []
  for (let i = 0; i < seeds.length; i++) {
    const h = pairHash(cloud.a, cloud.b, (seeds[i] as number) >>> 0)
    const s = negLog2Score(h)
    const w = weights[i] as number
    let at = top.length
    while (at > 0) {
      const j = top[at - 1] as number
      const left = s * (weights[j] as number)
      const right = (topScore[at - 1] as number) * w
      const better = left !== right ? left < right : hashBeats(h, i, topHash[at - 1] as number, j, ids)
      if (!better) break
      at--
    }
    if (at === k) continue
    top.splice(at, 0, i)
    topScore.splice(at, 0, s)
    topHash.splice(at, 0, h)
    if (top.length > k) { top.pop(); topScore.pop(); topHash.pop() }
  }
  return top
}

/** The cap of a node that takes no new members at all (a full node): assign never picks it. */
export const CLOSED_CAP = -Infinity

/** Ways for a caller that knows more to spare assign work; each must give what assign would compute. */
export interface AssignShortcuts {
  /** Per node, how many members `kept` lists for it over all clouds. */
  keptLoad?: Float64Array
  /** Must return exactly rankTop(cloud, nodes, k) for the cloud at `pos`. */
  rank?: (pos: number, cloud: AssignCloud, k: number) => number[]
}

/**
 * Fills clouds up to their replica count, in the order given. `kept(pos)` lists members a cloud
 * keeps (node indices); they are counted against the caps first. Only positions in `fill` are
 * filled; the others keep exactly what they have. The rest of each filled cloud comes from the
 * ranking in four passes of decreasing strictness: a fresh zone under the cap, a fresh zone over
 * it, any zone under the cap, any node. Zone spread wins over the load bound when both cannot hold.
 * Returns the filled clouds' members by position.
 */
export function assign (
  clouds: AssignCloud[],
  nodes: RankedNodes,
  caps: Float64Array,
  kept: (pos: number) => ArrayLike<number>,
  fill: Iterable<number>,
  shortcuts: AssignShortcuts = {}
): Map<number, number[]> {
  const load = shortcuts.keptLoad ?? new Float64Array(nodes.ids.length)
  if (shortcuts.keptLoad === undefined) {
    for (let pos = 0; pos < clouds.length; pos++) {
      const members = kept(pos)
      for (let j = 0; j < members.length; j++) load[members[j] as number]++
    }
  }
  const rank = shortcuts.rank ?? ((_pos: number, cloud: AssignCloud, k: number) => rankTop(cloud, nodes, k))
  const filled = new Map<number, number[]>()
  // Per position, how many members a filled cloud kept.
  const keptCount = new Int32Array(clouds.length)
  for (const pos of fill) {
    const cloud = clouds[pos] as AssignCloud
    const want = Math.min(cloud.replicas, nodes.ids.length)
    const members = copyOf(kept(pos))
    if (members.length >= want) continue
    const before = members.length
    pick(pos, cloud, rank, nodes, caps, load, members, want)
    for (let j = before; j < members.length; j++) load[members[j] as number]++
    filled.set(pos, members)
    keptCount[pos] = before
  }
  repairOverload(nodes, caps, load, filled, keptCount)
  return filled
}

/** A plain copy; Array.from takes the slow iterator path for this, and runs once per filled cloud. */
function copyOf (list: ArrayLike<number>): number[] {
  const out: number[] = []
  for (let j = 0; j < list.length; j++) out.push(list[j] as number)
  return out
}

/** How far one repair may search: enough for any small bevy, bounded for a large one. */
const REPAIR_MAX_VISITED = 256

/**
 * Greedy filling is not a perfect packing: in a small bevy a cloud that comes late can find only
 * full nodes left, though another order would have fit. This moves replicas along augmenting
 * paths (v gives cloud c to w, w gives cloud d to x, …, ending at a node under its cap), so each
 * node on the path keeps its load and the overloaded one sheds one. Only members this computation
 * chose are moved (never the first `keptCount` of a cloud, which it was told to keep), and no move
 * reduces a cloud's zone spread. Deterministic: fixed iteration order.
 */
function repairOverload (nodes: RankedNodes, caps: Float64Array, load: Float64Array, movable: Map<number, number[]>, keptCount: Int32Array): void {
  const n = nodes.ids.length
  // Nobody over the cap (the common case): nothing to repair, and no index to build. A repair
  // only moves load to a node under its cap, so it never makes a new overload.
  let over = false
  for (let v = 0; v < n && !over; v++) over = (load[v] as number) > (caps[v] as number)
  if (!over) return
  const holds: number[][] = Array.from({ length: n }, () => [])
  for (const [pos, members] of movable) members.forEach((m, j) => { if (j >= (keptCount[pos] as number)) (holds[m] as number[]).push(pos) })
  const zoneOf = nodes.zoneIdx
  const zoneCount = (members: number[]) => new Set(members.map((m) => zoneOf[m])).size

  const augment = (source: number): boolean => {
    const prev = new Map<number, { from: number, pos: number }>()
    const queue = [source]
    const seen = new Set([source])
    while (queue.length > 0 && seen.size < REPAIR_MAX_VISITED) {
      const u = queue.shift() as number
      for (const pos of holds[u] as number[]) {
        const members = movable.get(pos) as number[]
        const spread = zoneCount(members)
        for (let w = 0; w < n; w++) {
          if (seen.has(w) || members.includes(w) || caps[w] === CLOSED_CAP) continue
          if (zoneCount(members.map((m) => (m === u ? w : m))) < spread) continue
          seen.add(w)
          prev.set(w, { from: u, pos })
          if ((load[w] as number) < (caps[w] as number)) return applyPath(w)
          queue.push(w)
        }
      }
    }
    return false

    function applyPath (end: number): boolean {
      const steps: Array<{ from: number, to: number, pos: number }> = []
      for (let to = end; to !== source;) {
        const step = prev.get(to) as { from: number, pos: number }
        steps.push({ from: step.from, to, pos: step.pos })
        to = step.from
      }
      // Two steps through the same cloud could collide; such a path is dropped.
      if (new Set(steps.map((st) => st.pos)).size !== steps.length) return false
      for (const { from, to, pos } of steps) {
        const members = movable.get(pos) as number[]
        members[members.indexOf(from)] = to
        holds[from] = (holds[from] as number[]).filter((p) => p !== pos)
        ;(holds[to] as number[]).push(pos)
      }
      load[source]--
      load[end]++
      return true
    }
  }

  for (let v = 0; v < n; v++) {
    while ((load[v] as number) > (caps[v] as number) && augment(v));
  }
}

/** Appends to `chosen` until it holds `want` members, from rank(pos, cloud, k) = rankTop(cloud, nodes, k). */
function pick (
  pos: number, cloud: AssignCloud, rank: (pos: number, cloud: AssignCloud, k: number) => number[],
  nodes: RankedNodes, caps: Float64Array, load: Float64Array, chosen: number[], want: number
): void {
  const n = nodes.ids.length
  const kept = chosen.length
  const zoneOf = nodes.zoneIdx
  let k = Math.min(n, 3 * want + kept)
  for (;;) {
    const ranked = rank(pos, cloud, k)
    chosen.length = kept
    takeWhere(ranked, chosen, want, FRESH_ZONE | UNDER_CAP, zoneOf, caps, load)
    // A zone not used yet may have a node further down the ranking: look deeper, since only the
    // whole ranking proves that no fresh zone has room.
    if (chosen.length < want && k < n && zonesUsed(chosen, zoneOf) < nodes.zoneCount) {
      k = Math.min(n, k * 4)
      continue
    }
    takeWhere(ranked, chosen, want, FRESH_ZONE, zoneOf, caps, load)
    takeWhere(ranked, chosen, want, UNDER_CAP, zoneOf, caps, load)
    // Likewise a node under its cap may sit further down: over-cap picks need the whole ranking.
    if (chosen.length < want && k < n) {
      k = Math.min(n, k * 4)
      continue
    }
    takeWhere(ranked, chosen, want, 0, zoneOf, caps, load)
    return
  }
}

/** takeWhere conditions, as bits: the node's zone has no member yet; the node is under its cap. */
const FRESH_ZONE = 1
const UNDER_CAP = 2

/** Appends ranked nodes meeting `needs` to `chosen`, in rank order, until it holds `want`. */
function takeWhere (ranked: number[], chosen: number[], want: number, needs: number, zoneOf: Int32Array, caps: Float64Array, load: Float64Array): void {
  for (const i of ranked) {
    if (chosen.length === want) return
    if (chosen.includes(i) || caps[i] === CLOSED_CAP) continue
    if ((needs & UNDER_CAP) !== 0 && !((load[i] as number) < (caps[i] as number))) continue
    if ((needs & FRESH_ZONE) !== 0 && chosen.some((m) => zoneOf[m] === zoneOf[i])) continue
    chosen.push(i)
  }
}

function zonesUsed (members: number[], zoneOf: Int32Array): number {
  let count = 0
  for (let j = 0; j < members.length; j++) {
    let seen = false
    for (let q = 0; q < j; q++) if (zoneOf[members[q] as number] === zoneOf[members[j] as number]) { seen = true; break }
    if (!seen) count++
  }
  return count
}

/**
 * The best `k` of a subset of nodes, read off a ranking of all of them: a node's rank depends only
 * on the cloud and the node, so the subset's ranking is the full one with the others left out.
 * `ranking` holds full-set indices, best first; `complete` says it lists every node. `toSubset`
 * maps a full-set index to its subset index, or -1. Null when a truncated ranking runs out first.
 */
export function rankAmong (ranking: Int32Array, from: number, count: number, complete: boolean, toSubset: Int32Array, k: number): number[] | null {
  const out: number[] = []
  for (let j = from; j < from + count && out.length < k; j++) {
    const s = toSubset[ranking[j] as number] as number
    if (s !== -1) out.push(s)
  }
  return out.length === k || complete ? out : null
}
