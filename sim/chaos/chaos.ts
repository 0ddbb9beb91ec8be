// One chaos run, start to finish: a bevy of real node processes on a private loopback DHT, clouds
// synced from an owner who then goes away, hosted clouds written to throughout, seeded faults
// while clients read, then the checks.
// runChaos owns everything it starts and closes all of it before it returns or throws.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CloudInfo } from '../../node/bevy.js'
import { startPrivateDht, type PrivateDht } from '../../node/dht.js'
import { seededRng } from '../../protocol/ports.js'
import { verifyCloud, waitHealthy, waitSynced, type CloudVerdict, type Recovery } from './checks.js'
import { ClientLoad, type ClientCounts } from './clients.js'
import { HostedWriter, verifyHostedWrites, type HostedCloud, type HostedVerdict, type HostedWriteCounts } from './hosted-writes.js'
import { ChaosCluster, type Anomaly } from './cluster.js'
import { injectFaults, type FaultStats } from './faults.js'
import { DEFAULT_OPTIONS, validateOptions, type ChaosOptions } from './options.js'
import { Owner } from './owner.js'
import { describeFault, planFaults, type Fault } from './schedule.js'

/** The first sync of a few small clouds takes seconds; this only bounds a broken start. */
const INITIAL_SYNC_TIMEOUT_MS = 120_000
/** Clients draw from their own stream so that they never shift the schedule. */
const CLIENT_SEED_SALT = 0xc11e_0000
/** So does the hosted-cloud writer. */
const WRITER_SEED_SALT = 0x3717_0000

export interface ChaosRunOptions extends Partial<ChaosOptions> {
  /** Progress lines; default stderr. */
  log?: (line: string) => void
  /** Aborting stops the run early; everything is still closed. */
  signal?: AbortSignal
  /** A DHT the caller owns (e.g. a test's); otherwise the run starts and closes its own. */
  dht?: PrivateDht
  /** A directory the caller owns; otherwise a temp dir the run removes. */
  dir?: string
  /** Keep the run's own temp dir (node storage) for inspection. */
  keepDir?: boolean
  /** Write every node's whole log (all restarts) to <logDir>/n<i>.log at the end. */
  logDir?: string
}

export interface ChaosResult {
  ok: boolean
  /** Why the run failed, one line each; empty when ok. */
  failures: string[]
  options: ChaosOptions
  schedule: Fault[]
  faults: FaultStats
  clients: { faults: ClientCounts, recovery: ClientCounts, total: ClientCounts }
  /** Served / requested over the whole client run, in %. */
  availabilityPct: number
  /** From faults stopping to every cloud healthy on every node. */
  recovery: Recovery
  verdicts: CloudVerdict[]
  lostClouds: number
  /** Hosted clouds: what the writer tried, and whether every acknowledged write is served everywhere. */
  hosted: { writes: HostedWriteCounts, verdicts: HostedVerdict[] }
  anomalies: Anomaly[]
  /** Warnings and errors the node processes logged, per node (all generations). */
  logIssues: LogIssues[]
  /** Every node process started, for callers that check none outlives the run. */
  pids: number[]
  dir: string
}

export async function runChaos (input: ChaosRunOptions = {}): Promise<ChaosResult> {
  const options = validateOptions({ ...DEFAULT_OPTIONS, ...definedOnly(input) })
  const log = input.log ?? ((line: string) => process.stderr.write(line + '\n'))
  const { signal } = input
  const schedule = planFaults({ seed: options.seed, nodes: options.nodes, durationMs: options.durationMs, maxDown: options.maxDown })
  log(`chaos: seed ${options.seed}, ${options.nodes} nodes, ${options.clouds} clouds x ${options.replicas} replicas, ` +
    `faults for ${options.durationMs / 1000} s, at most ${options.maxDown} node(s) out at a time`)
  log(`schedule (${schedule.length} faults, from seed ${options.seed}; offsets from the start of the fault phase):`)
  for (const f of schedule) log('  ' + describeFault(f))
  log('note: the schedule replays exactly from the seed; real processes run on the wall clock, so what the nodes ' +
    'were doing at each fault does not.')

  const stamp = () => new Date().toISOString().slice(11, 23)
  const step = (line: string) => log(`[${stamp()}] ${line}`)
  const ownDir = input.dir === undefined
  const dir = input.dir ?? await mkdtemp(join(tmpdir(), 'bevy-chaos-'))
  let dht: PrivateDht | null = input.dht ?? null
  const ownDht = dht === null
  let cluster: ChaosCluster | null = null
  let owner: Owner | null = null
  let clients: ClientLoad | null = null
  let writer: HostedWriter | null = null
  try {
    // Loopback only: every node gets this DHT as --bootstrap, never the public one.
    dht ??= await startPrivateDht({ port: 0 })
    step(`private DHT at ${dht.bootstrap}; storage in ${dir}`)
    cluster = await ChaosCluster.start({ dht, dir, count: options.nodes, logLevel: options.nodeLogLevel, ...(signal === undefined ? {} : { signal }) })
    step(`bevy of ${options.nodes} live: ${cluster.nodes.map((n) => `n${n.index}=${n.id.slice(0, 8)}@${n.zone}`).join(' ')}`)

    owner = await Owner.create({ dir, dht, count: options.clouds, seed: options.seed })
    const founder = cluster.nodes[0]!
    for (const c of owner.clouds) await cluster.api<CloudInfo>(founder, 'POST', '/api/clouds', { key: c.key, replicas: options.replicas })
    step(`owner seeding ${options.clouds} clouds (${owner.clouds.map((c) => `${c.key.slice(0, 8)} ${c.bytes} B`).join(', ')}); registered`)
    await waitSynced(cluster, owner.clouds, options.replicas, INITIAL_SYNC_TIMEOUT_MS, signal)
    await owner.stopSeeding()
    step(`every cloud synced on ${options.replicas} replicas; the owner stopped seeding, the bevy alone holds the data`)

    const hostedClouds: HostedCloud[] = []
    for (let i = 0; i < options.hostedClouds; i++) {
      const { key, token } = await cluster.api<{ key: string, token: string }>(founder, 'POST', '/api/clouds', { hosted: true, replicas: options.replicas })
      hostedClouds.push({ key, token })
    }
    if (hostedClouds.length > 0) step(`created ${hostedClouds.length} hosted cloud(s): ${hostedClouds.map((c) => c.key.slice(0, 8)).join(', ')}`)

    clients = new ClientLoad(cluster, owner.clouds, seededRng((options.seed ^ CLIENT_SEED_SALT) >>> 0))
    clients.start(options.clients)
    writer = new HostedWriter(cluster, hostedClouds, seededRng((options.seed ^ WRITER_SEED_SALT) >>> 0))
    writer.start()
    step(`fault phase: ${options.durationMs / 1000} s, ${options.clients} clients reading${hostedClouds.length > 0 ? ', one writer writing to the hosted clouds' : ''}`)
    const [faults] = await Promise.all([
      injectFaults(cluster, schedule, { maxDown: options.maxDown, durationMs: options.durationMs, log, ...(signal === undefined ? {} : { signal }) }),
      sleep(options.durationMs, undefined, { signal })
    ])
    clients.phase = 'recovery'
    step(`faults stopped (last outage healed at ${(faults.healedAtMs / 1000).toFixed(1)} s); waiting up to ${options.recoveryBoundMs / 1000} s for every cloud to be back at ${options.replicas} live, synced replicas on every node`)
    await cluster.waitAllLive(options.recoveryBoundMs, signal).catch(() => {}) // waitHealthy below reports what is wrong
    const recovery = await waitHealthy(cluster, owner.clouds, options.replicas, options.recoveryBoundMs, signal)
    step(recovery.recovered ? `recovered in ${recovery.ms} ms` : `NOT recovered after ${recovery.ms} ms: ${recovery.problems.join('; ')}`)
    await clients.stop()
    await writer.stop()

    // The view can call a restarted node's copy synced (it is on disk) a moment before the node
    // has reopened it to serve; give each cloud until the recovery bound to serve from every copy.
    const verdicts: CloudVerdict[] = []
    const verifyStart = Date.now()
    for (const c of owner.clouds) {
      let verdict = await verifyCloud(cluster, c)
      while ((verdict.copies.length < options.replicas || !verdict.readableEverywhere) && Date.now() - verifyStart < options.recoveryBoundMs && !signal?.aborted) {
        await sleep(500)
        verdict = await verifyCloud(cluster, c)
      }
      verdicts.push(verdict)
    }
    // Hosted copies catch up like any other: give every acknowledged write until the bound to be served everywhere.
    let hostedVerdicts = await verifyHostedWrites(cluster, writer)
    while (hostedVerdicts.some((v) => !v.servedEverywhere) && Date.now() - verifyStart < options.recoveryBoundMs && !signal?.aborted) {
      await sleep(500)
      hostedVerdicts = await verifyHostedWrites(cluster, writer)
    }
    step(`verified every cloud in ${Date.now() - verifyStart} ms`)
    for (const v of hostedVerdicts) {
      step(`hosted cloud ${v.key.slice(0, 8)}: ${v.acknowledged} acknowledged writes, ` +
        `${v.servedEverywhere ? 'every node serves each byte for byte' : 'NOT served everywhere: ' + v.problems.join('; ')}`)
    }
    for (const v of verdicts) {
      step(`cloud ${v.key.slice(0, 8)}: ${v.copies.length} nodes serve a full copy themselves; ` +
        `${v.readableEverywhere ? 'every node reads it back byte-identical' : 'NOT readable everywhere: ' + v.problems.join('; ')}`)
    }

    const total = clients.total()
    const lostClouds = verdicts.filter((v) => v.lost).length
    const failures: string[] = []
    for (const v of verdicts) {
      if (v.lost) failures.push(`cloud ${v.key} lost (${v.copies.length} full copies, ${v.registered ? 'registered' : 'missing from a registry'})`)
      else if (!v.readableEverywhere) failures.push(`cloud ${v.key} not readable from every node: ${v.problems.join('; ')}`)
    }
    for (const v of hostedVerdicts) {
      if (!v.servedEverywhere) failures.push(`hosted cloud ${v.key}: acknowledged writes not served by every node: ${v.problems.join('; ')}`)
    }
    if (!recovery.recovered) failures.push(`not recovered within ${options.recoveryBoundMs} ms: ${recovery.problems.join('; ')}`)
    if (total.wrong > 0) failures.push(`${total.wrong} client reads returned bytes other than the owner's`)
    failures.push(...faults.errors)
    for (const a of cluster.anomalies) failures.push(`n${a.node} ${a.what}`)

    return {
      ok: failures.length === 0,
      failures,
      options,
      schedule,
      faults,
      clients: { faults: clients.counts.faults, recovery: clients.counts.recovery, total },
      availabilityPct: total.requests === 0 ? NaN : total.served / total.requests * 100,
      recovery,
      verdicts,
      lostClouds,
      hosted: { writes: writer.counts, verdicts: hostedVerdicts },
      anomalies: [...cluster.anomalies],
      logIssues: cluster.nodes.map((n) => logIssues(n.index, cluster!.logOf(n.index))),
      pids: [...cluster.pids],
      dir
    }
  } finally {
    await clients?.stop()
    await writer?.stop()
    await cluster?.close()
    if (input.logDir !== undefined && cluster !== null) {
      await mkdir(input.logDir, { recursive: true })
      for (const n of cluster.nodes) await writeFile(join(input.logDir, `n${n.index}.log`), cluster.logOf(n.index))
      log(`node logs written to ${input.logDir}`)
    }
    await owner?.close()
    if (ownDht) await dht?.close()
    if (ownDir && input.keepDir !== true) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  }
}

export interface LogIssues { node: number, warn: number, error: number, last: string[] }

/** Counts pino lines at warn (40) and above, keeping the last few to show. */
function logIssues (node: number, log: string): LogIssues {
  const out: LogIssues = { node, warn: 0, error: 0, last: [] }
  for (const line of log.split('\n')) {
    let level = 0
    try { level = (JSON.parse(line) as { level?: number }).level ?? 0 } catch { continue }
    if (level < 40) continue
    if (level === 40) out.warn++
    else out.error++
    out.last.push(line.length > 400 ? line.slice(0, 400) + '…' : line)
    if (out.last.length > 5) out.last.shift()
  }
  return out
}

function definedOnly (o: ChaosRunOptions): Partial<ChaosOptions> {
  const keys = Object.keys(DEFAULT_OPTIONS) as Array<keyof ChaosOptions>
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]))
}
