// Fair shares and load caps in exact integer arithmetic (BigInt; run once per computation, not
// per cloud).
//
// A node's fair share is its weight's part of all replicas, bent only where placement has no
// choice, by water-filling first over zones and then over the nodes of each zone: whoever would
// get more than it can hold gets what it can hold, whoever would get less than it must hold gets
// that, and the rest is shared among the others in proportion to weight. What a zone can and must
// hold follows from zone spread (one replica of a cloud per zone while the cloud has no more
// replicas than there are zones) and what a node can and must hold from distinct replicas (one
// replica of a cloud per node; a cloud with as many replicas as nodes is on every node).
// Without this the bound could be impossible to meet: in a bevy of exactly R zones every cloud
// has a replica in the smallest zone, and with R = N every node holds every cloud.

export interface ShareNode { id: string, zone: string, weight: number }
export interface ShareCloud { replicas: number }

interface Fraction { num: bigint, den: bigint }

/** How many clouds there are per replica count: all the caps read of the clouds. */
export interface ReplicaCounts { clouds: number, perReplicas: ReadonlyMap<number, number> }

export function replicaCounts (clouds: readonly ShareCloud[]): ReplicaCounts {
  const perReplicas = new Map<number, number>()
  for (const c of clouds) perReplicas.set(c.replicas, (perReplicas.get(c.replicas) ?? 0) + 1)
  return { clouds: clouds.length, perReplicas }
}

/**
 * Per node id, the most target replicas it may hold: ⌈(1 + ε) · fair share⌉. Infinity when ε is
 * null. A caller computing caps for the same clouds again passes their replicaCounts instead.
 */
export function loadCaps (nodes: ShareNode[], cloudsOrCounts: readonly ShareCloud[] | ReplicaCounts, epsilonPermille: number | null): Map<string, number> {
  const caps = new Map<string, number>()
  if (epsilonPermille === null || nodes.length === 0) {
    for (const n of nodes) caps.set(n.id, Infinity)
    return caps
  }
  const byZone = new Map<string, ShareNode[]>()
  for (const n of nodes) {
    const members = byZone.get(n.zone)
    if (members === undefined) byZone.set(n.zone, [n])
    else members.push(n)
  }
  const zoneCount = byZone.size

  // Every sum below depends on a cloud only through its replica count: sum per distinct count.
  const counts = 'perReplicas' in cloudsOrCounts ? cloudsOrCounts : replicaCounts(cloudsOrCounts)
  const counted = new Map<number, number>()
  for (const [replicas, count] of counts.perReplicas) {
    const r = Math.min(replicas, nodes.length)
    counted.set(r, (counted.get(r) ?? 0) + count)
  }
  const cloudsPerCount = new Map([...counted].map(([r, count]) => [r, BigInt(count)]))
  let total = 0n
  for (const [r, count] of cloudsPerCount) total += BigInt(r) * count
  const zoneBounds = new Map<string, Bounds>()
  for (const [zone, members] of byZone) {
    const others = nodes.length - members.length
    let floor = 0n
    let limit = 0n
    for (const [r, count] of cloudsPerCount) {
      const canHold = r <= zoneCount ? 1 : Math.min(r, members.length)
      const othersCanHold = r <= zoneCount ? zoneCount - 1 : others
      limit += BigInt(canHold) * count
      // Spread uses every zone once a cloud has at least as many replicas as there are zones.
      floor += BigInt(Math.max(r >= zoneCount ? 1 : 0, r - othersCanHold)) * count
    }
    zoneBounds.set(zone, { floor, limit })
  }
  const zoneWeights = new Map([...byZone].map(([zone, members]) => [zone, sumWeights(members)]))
  const zoneShares = waterFill(zoneWeights, { num: total, den: 1n }, (zone) => zoneBounds.get(zone) as Bounds)

  let everywhere = 0n
  for (const [r, count] of cloudsPerCount) if (r >= nodes.length) everywhere += count
  const nodeBounds: Bounds = { floor: everywhere, limit: BigInt(counts.clouds) }
  const scale = BigInt(1000 + epsilonPermille)
  for (const [zone, members] of byZone) {
    const weights = new Map(members.map((n) => [n.id, BigInt(n.weight)]))
    const shares = waterFill(weights, zoneShares.get(zone) as Fraction, () => nodeBounds)
    for (const n of members) {
      const share = shares.get(n.id) as Fraction
      const num = scale * share.num
      const den = 1000n * share.den
      caps.set(n.id, Number((num + den - 1n) / den))
    }
  }
  return caps
}

function sumWeights (nodes: ShareNode[]): bigint {
  return nodes.reduce((sum, n) => sum + BigInt(n.weight), 0n)
}

interface Bounds { floor: bigint, limit: bigint }

/**
 * Splits `total` over the keys in proportion to weight, each within [floor, limit]: first those
 * that would pass their limit are held to it, then those that would fall short of their floor are
 * raised to it, each time sharing what remains among the others. Exact fractions throughout.
 */
function waterFill (weights: Map<string, bigint>, total: Fraction, boundsOf: (key: string) => Bounds): Map<string, Fraction> {
  const out = new Map<string, Fraction>()
  let open = [...weights.keys()].sort()
  let remaining = total
  const settle = (pick: (key: string, share: Fraction) => bigint | null): boolean => {
    const openWeight = open.reduce((sum, k) => sum + (weights.get(k) as bigint), 0n)
    if (openWeight === 0n) return false
    const fixed: string[] = []
    for (const k of open) {
      const value = pick(k, { num: remaining.num * (weights.get(k) as bigint), den: remaining.den * openWeight })
      if (value === null) continue
      out.set(k, { num: value, den: 1n })
      remaining = { num: remaining.num - value * remaining.den, den: remaining.den }
      fixed.push(k)
    }
    open = open.filter((k) => !fixed.includes(k))
    return fixed.length > 0
  }
  // share > limit ⇔ share.num > limit · share.den (denominators are positive)
  while (settle((k, share) => (share.num > boundsOf(k).limit * share.den ? boundsOf(k).limit : null)));
  while (settle((k, share) => (share.num < boundsOf(k).floor * share.den ? boundsOf(k).floor : null)));
  const openWeight = open.reduce((sum, k) => sum + (weights.get(k) as bigint), 0n)
  for (const k of open) out.set(k, { num: remaining.num * (weights.get(k) as bigint), den: remaining.den * openWeight })
  return out
}
