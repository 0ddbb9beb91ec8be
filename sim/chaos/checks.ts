// Checkers that look at the bevy from outside, through each node's own API: is every cloud at N
// live, synced replicas as every node sees it, and does every node read back the owner's bytes.
import { setTimeout as sleep } from 'node:timers/promises'
import type { CloudInfo, ReplicaInfo } from '../../node/bevy.js'
import type { StatusReport } from '../../node/status.js'
import type { ChaosCluster, ChaosNode } from './cluster.js'
import type { CloudContent } from './owner.js'

const POLL_MS = 200

/**
 * A target that holds the whole cloud: says synced, and has every byte of the owner's drive at
 * its version or later (a replica may say synced for a moment before it knows the blob core's
 * length, so `synced` alone is not enough).
 */
export function fullCopy (r: ReplicaInfo, cloud: CloudContent): boolean {
  return r.role === 'target' && r.synced && r.state === 'synced' && r.version >= cloud.version &&
    r.bytes.total === cloud.bytes && r.bytes.had === r.bytes.total
}

/** What one node's view lacks for `cloud` to be healthy, or null when it is: N live full copies. */
export function viewProblem (via: ChaosNode, status: StatusReport, info: CloudInfo, cloud: CloudContent, replicas: number): string | null {
  const live = new Set(status.nodes.filter((n) => n.state === 'live').map((n) => n.id))
  const targets = info.placement.filter((r) => r.role === 'target')
  const good = targets.filter((r) => fullCopy(r, cloud) && live.has(r.node))
  if (targets.length === replicas && good.length === replicas) return null
  const show = (r: ReplicaInfo) => `${r.node.slice(0, 6)}:${live.has(r.node) ? 'live' : 'not-live'}/${r.state}/${r.bytes.had}of${r.bytes.total}/v${r.version}`
  return `n${via.index} sees ${cloud.key.slice(0, 8)} with ${good.length}/${replicas} live full copies [${targets.map(show).join(' ')}]`
}

/** Problems across every up node and every cloud; also that all nodes agree on each target set. */
export async function healthProblems (cluster: ChaosCluster, clouds: CloudContent[], replicas: number): Promise<string[]> {
  const problems: string[] = []
  const nodes = cluster.up()
  if (nodes.length < cluster.nodes.length) problems.push(`${cluster.out().map((n) => `n${n.index}`).join(',')} not up`)
  const views = await Promise.all(nodes.map(async (n) => {
    try {
      const status = await cluster.api<StatusReport>(n, 'GET', '/api/status')
      const infos = await Promise.all(clouds.map((c) => cluster.api<CloudInfo>(n, 'GET', `/api/clouds/${c.key}`)))
      return { n, status, infos }
    } catch (err) {
      problems.push(`n${n.index}: ${String(err)}`)
      return null
    }
  }))
  for (const [ci, cloud] of clouds.entries()) {
    const sets = new Set<string>()
    for (const v of views) {
      if (v === null) continue
      const info = v.infos[ci]!
      const p = viewProblem(v.n, v.status, info, cloud, replicas)
      if (p !== null) problems.push(p)
      sets.add(info.placement.filter((r) => r.role === 'target').map((r) => r.node).sort().join(','))
    }
    if (sets.size > 1) problems.push(`nodes disagree on the replica set of ${cloud.key.slice(0, 8)}`)
  }
  return problems
}

export interface Recovery { recovered: boolean, ms: number, problems: string[] }

/** Polls until healthProblems is empty, for at most `boundMs`. */
export async function waitHealthy (cluster: ChaosCluster, clouds: CloudContent[], replicas: number, boundMs: number, signal?: AbortSignal): Promise<Recovery> {
  const t0 = Date.now()
  let problems: string[] = ['not checked yet']
  while (true) {
    problems = await healthProblems(cluster, clouds, replicas)
    const ms = Date.now() - t0
    if (problems.length === 0) return { recovered: true, ms, problems }
    if (ms >= boundMs) return { recovered: false, ms, problems }
    await sleep(POLL_MS, undefined, { signal })
  }
}

export interface CloudVerdict {
  key: string
  /** Nodes that serve every file themselves, byte-identical. */
  copies: string[]
  /** Every node, asked as a client would (following redirects), returned every file identical. */
  readableEverywhere: boolean
  /** Still registered on every node. */
  registered: boolean
  problems: string[]
  lost: boolean
}

/**
 * Reads every file of `cloud` from every node twice: as a client (redirects followed), and with
 * the hop header so a node with a copy serves its own (X-Bevy-Node is itself, no X-Bevy-Replica).
 * Lost means: no node has a full copy, or some node no longer knows the cloud.
 */
export async function verifyCloud (cluster: ChaosCluster, cloud: CloudContent): Promise<CloudVerdict> {
  const problems: string[] = []
  const copies: string[] = []
  let readableEverywhere = true
  let registered = true
  for (const n of cluster.nodes) {
    if (n.state !== 'up') {
      readableEverywhere = false
      problems.push(`n${n.index} not up`)
      continue
    }
    try {
      await cluster.api<CloudInfo>(n, 'GET', `/api/clouds/${cloud.key}`)
    } catch (err) {
      registered = false
      problems.push(`n${n.index} does not know the cloud: ${String(err)}`)
    }
    let own = true
    for (const [path, bytes] of cloud.files) {
      const url = `${n.url}/c/${cloud.key}/${path}`
      const asClient = await get(url, {})
      if (asClient.status !== 200 || !asClient.body.equals(bytes)) {
        readableEverywhere = false
        problems.push(`n${n.index} ${path}: ${asClient.status === 200 ? 'different bytes' : asClient.status}`)
      }
      const direct = await get(url, { 'x-bevy-hop': 'chaos-check' })
      if (direct.status !== 200 || !direct.body.equals(bytes) || direct.node !== n.id || direct.replica !== null) own = false
    }
    if (own) copies.push(n.id)
  }
  const lost = copies.length === 0 || !registered
  return { key: cloud.key, copies, readableEverywhere, registered, problems, lost }
}

async function get (url: string, headers: Record<string, string>): Promise<{ status: number | string, body: Buffer, node: string | null, replica: string | null }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
    const body = Buffer.from(await res.arrayBuffer())
    return { status: res.status, body, node: res.headers.get('x-bevy-node'), replica: res.headers.get('x-bevy-replica') }
  } catch (err) {
    return { status: String((err as { cause?: { code?: string } }).cause?.code ?? err), body: Buffer.alloc(0), node: null, replica: null }
  }
}

/** Waits until every cloud has `replicas` full copies as `via` sees it (the initial sync, before faults). */
export async function waitSynced (cluster: ChaosCluster, clouds: CloudContent[], replicas: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const problems = await healthProblems(cluster, clouds, replicas)
    if (problems.length === 0) return
    last = problems.join('; ')
    await sleep(POLL_MS, undefined, { signal })
  }
  throw new Error(`clouds not synced on ${replicas} replicas within ${timeoutMs} ms: ${last}`)
}
