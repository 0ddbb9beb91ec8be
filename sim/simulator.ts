// The discrete-event simulator. One seed feeds one PRNG that draws the cluster, the fault
// schedule, network delays and client requests; time is simulated. Every node decision runs
// through production code: op encoding, the view's apply and snapshot, liveness, the placement
// engine and runner, the Reconciler, route signals and chooseReplica. Only the clock, network,
// disk and processes are simulated here.
import {
  encodeOp, NO_INVITE, OpType, rngFloat, rngInt, rngShuffle, seededRng, ViewKey, type Clock, type Op, type Rng
} from '../protocol/index.js'
import { chooseReplica, LivenessTracker, PlacementEngine, type Placement, type PlacementNode, type Replica } from '../placement/index.js'
import { replicaSignals } from '../node/route-signals.js'
import { MemoryViewStore } from '../node/view/view-store.js'
import type { InputNode } from '../node/view/apply.js'
import type { ReconcileActions } from '../node/reconciler.js'
import { Checkers, type Verdict } from './checkers.js'
import { EventQueue } from './event-queue.js'
import { buildSchedule, describeAction, type Action, type Schedule } from './faults.js'
import type { Scenario } from './scenario.js'
import { SimNode } from './sim-node.js'
import { Observer, ViewGroup } from './view-group.js'

export interface SimOptions {
  seed: number
  scenario: Scenario
  /** Called now and then with simulated progress, for a progress bar. */
  onProgress?: (simMs: number, endMs: number) => void
  /**
   * A test aid: after each reconcile tick that decided only some clouds, a full reconcile must
   * find nothing left to do; throws if it does. Slow (a full reconcile per node per tick).
   */
  verifyIncremental?: boolean
  /** A test aid: every determinism check runs a fresh engine, even when nothing changed since one that passed. */
  freshEveryCheck?: boolean
}

export interface SimResult {
  ok: boolean
  seed: number
  scenario: string
  params: { nodes: number, totalNodes: number, zones: number, clouds: number, replicas: number, durationMs: number, endMs: number }
  schedule: Array<{ atMs: number, what: string }>
  invariants: Verdict[]
  summary: {
    requests: number
    served: number
    availability: number
    copies: number
    necessaryCopies: number
    bytesMoved: number
    opsApplied: number
    faultsEndMs: number
    recoveredAfterMs: number | null
    spikedShareOfRequests: number | null
  }
  series: { atMs: number[], liveNodes: number[], underReplicated: number[], copies: number[], availability: number[] }
}

type SimEvent =
  | { type: 'heartbeat', node: SimNode }
  | { type: 'apply' }
  | { type: 'tick' }
  | { type: 'sample' }
  | { type: 'client' }
  | { type: 'sync-done', node: SimNode, token: number }
  | { type: 'sync-retry', node: SimNode }
  | { type: 'purge-done', node: SimNode, cloud: string }
  | { type: 'action', action: Action }

/** How often each group applies the ops that reached it: Autobase applies in batches too. */
const APPLY_INTERVAL_MS = 250
/** A purge (close, clear, compact) takes a moment; a crash inside it leaves the copy on disk. */
const PURGE_MS = 200
/** A sync with no reachable source tries again after this. */
const SYNC_RETRY_MS = 1000
/** Retransmits of a lost message before it gets through (TCP/UDX keep trying; this bounds the model). */
const MAX_RETRANSMITS = 2
const SERIES_POINTS = 240
const RECOVERY_CHECK_MS = 5000
/** Copies allowed per necessary copy, plus a few for the cap's reshuffles. */
const MOVES_BOUND = 1.5

export async function simulate (opts: SimOptions): Promise<SimResult> {
  const sim = new Simulator(opts)
  return await sim.run()
}

class Simulator {
  private readonly sc: Scenario
  private readonly rng: Rng
  private nowMs = 0
  private readonly trueClock: Clock = { now: () => this.nowMs }
  private readonly queue = new EventQueue<SimEvent>()
  private readonly pending = new EventQueue<{ writer: SimNode, op: InputNode }>()
  private readonly nodes: SimNode[] = []
  private readonly byHex = new Map<string, SimNode>()
  private readonly groupOf = new Map<SimNode, ViewGroup>()
  private groups: ViewGroup[] = []
  private nextGroupId = 0
  private readonly engine: PlacementEngine
  private readonly cloudKeys: string[] = []
  private readonly cloudSize = new Map<string, number>()
  /** The nodes with a complete copy of each cloud on their disk, up or not: sync sources, and the no-cloud-lost count. */
  private readonly completeCopies = new Map<string, Set<SimNode>>()
  private readonly schedule: Schedule
  private readonly checks = new Checkers()
  private readonly endMs: number
  private syncToken = 0
  private copies = 0
  private bytesMoved = 0
  private opsApplied = 0
  private necessaryCopies = 0
  private requests = 0
  private served = 0
  private spikedRequests = 0
  private spikeRequests = 0
  private windowRequests = 0
  private windowServed = 0
  /** Per node: its target count while it was last eligible, and whether its outage was counted. */
  private readonly lastTargets = new Map<SimNode, number>()
  private readonly outageCounted = new Set<SimNode>()
  private partitionedSinceMs: number | null = null
  private partitionCounted = false
  private readonly series: SimResult['series'] = { atMs: [], liveNodes: [], underReplicated: [], copies: [], availability: [] }
  /** Bumped whenever what some node serves may have changed (process state, open copies, synced copies). */
  private servingEpoch = 0
  private underReplicatedCount: { group: ViewGroup, targets: object, clouds: unknown, servingEpoch: number, under: number } | null = null
  /** Per group, what its last determinism check that ran a fresh engine compared, if it passed. */
  private readonly lastPassedCheck = new Map<ViewGroup, CheckedInput>()

  constructor (private readonly opts: SimOptions) {
    this.sc = opts.scenario
    this.rng = seededRng(opts.seed)
    this.engine = new PlacementEngine({ epsilonPermille: this.sc.config.loadEpsilonPermille })
    this.schedule = buildSchedule(this.sc, this.sc.nodes, (n) => n % this.sc.zones, this.rng)
    this.endMs = Math.max(this.sc.durationMs, this.schedule.faultsEndMs + this.sc.recoveryBoundMs)
  }

  private get config () { return this.sc.config }

  async run (): Promise<SimResult> {
    await this.setup()
    this.queue.push(APPLY_INTERVAL_MS, { type: 'apply' })
    this.queue.push(this.tickMs, { type: 'tick' })
    this.queue.push(0, { type: 'sample' })
    if (this.sc.clients.requestsPerSec > 0) this.queue.push(this.clientGapMs(), { type: 'client' })
    for (const s of this.schedule.actions) this.queue.push(s.atMs, { type: 'action', action: s.action })
    let progressAt = 0
    for (;;) {
      const next = this.queue.peekTime()
      if (next === undefined || next > this.endMs) break
      const { atMs, item } = this.queue.pop() as { atMs: number, item: SimEvent }
      this.nowMs = atMs
      await this.handle(item)
      if (this.nowMs - progressAt >= 60_000) {
        progressAt = this.nowMs
        this.opts.onProgress?.(this.nowMs, this.endMs)
      }
    }
    this.nowMs = this.endMs
    return this.result()
  }

  private get tickMs (): number { return Math.min(1000, this.config.heartbeatIntervalMs) }

  // ---- setup ----------------------------------------------------------------------------------

  private async setup (): Promise<void> {
    const sc = this.sc
    for (let i = 0; i < this.schedule.totalNodes; i++) {
      const node = new SimNode(i, this.randomKey(), this.randomKey(), `z${i % sc.zones}`, sc.disk.capacityBytes, 50 + rngInt(this.rng, 350), this.trueClock)
      this.nodes.push(node)
      this.byHex.set(node.idHex, node)
    }
    for (const a of this.schedule.actions) {
      if (a.atMs === 0 && a.action.kind === 'skew') this.nodes[a.action.node]!.skewMs = a.action.offsetMs
    }
    const logMin = Math.log(sc.disk.cloudBytesMin)
    const logMax = Math.log(Math.max(sc.disk.cloudBytesMin, sc.disk.cloudBytesMax))
    for (let i = 0; i < sc.clouds; i++) {
      const key = this.randomKey().toString('hex')
      this.cloudKeys.push(key)
      this.cloudSize.set(key, Math.round(Math.exp(logMin + rngFloat(this.rng) * (logMax - logMin))))
    }
    const group = new ViewGroup(this.nextGroupId++, new MemoryViewStore(), this.newObserver(new LivenessTracker(this.config), this.trueClock), { maxIndexers: this.config.maxIndexers })
    this.groups = [group]
    const initial = this.nodes.slice(0, this.schedule.initialNodes)
    const founder = initial[0] as SimNode
    const ops: InputNode[] = []
    const put = (from: SimNode, op: Op) => ops.push({ value: encodeOp(op), from: { key: from.writer } })
    for (const node of initial) {
      node.status = 'up'
      this.groupOf.set(node, group)
      node.observer = group.observer
      put(founder, { type: OpType.ADD_WRITER, key: node.writer, inviteId: NO_INVITE })
      put(node, { type: OpType.ANNOUNCE, lamport: node.lamport.tick(), nodeId: node.id, url: node.url, zone: node.zone, capacity: node.capacityBytes })
      put(node, { type: OpType.HEARTBEAT, nodeId: node.id, seq: ++node.heartbeatSeq, clockMs: node.clock.now(), load: node.load() })
    }
    for (const key of this.cloudKeys) put(founder, { type: OpType.CLOUD_ADD, lamport: founder.lamport.tick(), key: Buffer.from(key, 'hex'), replicas: sc.replicas })
    await group.apply(ops)
    group.observer.observe(group.snapshot)
    // A settled bevy: every target already holds a complete copy, and says so in the view.
    const placement = group.observer.recompute(group.snapshot)
    for (const node of initial) {
      for (const cloud of placement.targetsOf(node.idHex)) {
        node.disk.set(cloud, { sizeBytes: this.cloudSize.get(cloud) as number, haveBytes: this.cloudSize.get(cloud) as number, synced: true })
        node.open.add(cloud)
        this.addCompleteCopy(cloud, node)
      }
    }
    const holds: InputNode[] = []
    for (const node of initial) {
      node.lamport.observe(group.snapshot.maxLamport)
      const actions = node.reconciler.reconcile(group.snapshot, placement, node)
      for (const op of actions.ops) holds.push({ value: encodeOp(op), from: { key: node.writer } })
    }
    await group.apply(holds)
    group.observer.recompute(group.snapshot)
    this.opsApplied += ops.length + holds.length
    for (const node of initial) {
      node.dirty = true
      // A skewed clock judges on its own time, so the node keeps its own tracker.
      if (node.skewMs !== 0) {
        node.observer = this.newObserver(new LivenessTracker(this.config), node.clock)
        node.observer.observe(group.snapshot)
      }
      this.queue.push(rngInt(this.rng, this.config.leaseIntervalMs), { type: 'heartbeat', node })
    }
  }

  private randomKey (): Buffer {
    const key = Buffer.alloc(32)
    for (let i = 0; i < 32; i += 4) key.writeUInt32BE(this.rng.nextUint32(), i)
    return key
  }

  private newObserver (tracker: LivenessTracker, clock: Clock): Observer {
    return new Observer(tracker, clock, this.config, this.engine)
  }

  // ---- events ---------------------------------------------------------------------------------

  private async handle (ev: SimEvent): Promise<void> {
    switch (ev.type) {
      case 'heartbeat': return this.heartbeat(ev.node)
      case 'apply': return await this.applyTick()
      case 'tick': return this.tick()
      case 'sample': return this.sample()
      case 'client': return this.client()
      case 'sync-done': return this.syncDone(ev.node, ev.token)
      case 'sync-retry': return this.startSync(ev.node)
      case 'purge-done': return this.purgeDone(ev.node, ev.cloud)
      case 'action': return this.act(ev.action)
    }
  }

  private heartbeat (node: SimNode): void {
    if (!node.up) return // a restart schedules the next one
    this.send(node, { type: OpType.HEARTBEAT, nodeId: node.id, seq: ++node.heartbeatSeq, clockMs: Math.max(0, node.clock.now()), load: node.load() })
    this.queue.push(this.nowMs + this.config.leaseIntervalMs, { type: 'heartbeat', node })
  }

  /** Puts an op on the wire: it reaches the writer's group after latency, jitter and any losses. */
  private send (node: SimNode, op: Op): void {
    const net = this.sc.network
    let delay = net.latencyMs + (net.jitterMs > 0 ? rngInt(this.rng, net.jitterMs + 1) : 0)
    for (let i = 0; i < MAX_RETRANSMITS && rngInt(this.rng, 1000) < net.lossPermille; i++) delay += net.retransmitMs
    this.pending.push(this.nowMs + delay, { writer: node, op: { value: encodeOp(op), from: { key: node.writer } } })
  }

  private async applyTick (): Promise<void> {
    const due = new Map<ViewGroup, InputNode[]>()
    while ((this.pending.peekTime() ?? Infinity) <= this.nowMs) {
      const { item } = this.pending.pop() as { atMs: number, item: { writer: SimNode, op: InputNode } }
      const group = this.groupOf.get(item.writer) as ViewGroup
      let list = due.get(group)
      if (list === undefined) due.set(group, list = [])
      list.push(item.op)
    }
    for (const group of this.groups) {
      const ops = due.get(group)
      if (ops === undefined) continue
      this.opsApplied += ops.length
      const changed = await group.apply(ops)
      if (changed.size === 0) continue
      this.observeGroup(group)
      this.markAffected(group, changed)
    }
    for (const node of this.nodes) if (node.status === 'joining') await this.checkAdmitted(node)
    this.queue.push(this.nowMs + APPLY_INTERVAL_MS, { type: 'apply' })
  }

  /**
   * Clouds whose reconcile inputs changed, per node: a node's own hold record of a cloud, and
   * the holdings of a cloud it holds (a handoff holder lets go once the targets are synced).
   * Reconcile decides cloud by cloud from exactly these, its placement and its disk, so every
   * other cloud would get its last answer again and is skipped.
   */
  private markAffected (group: ViewGroup, changed: Set<string>): void {
    for (const key of changed) {
      if (!key.startsWith(ViewKey.holdPrefix)) continue
      const [cut, nodeHex] = key.slice(ViewKey.holdPrefix.length).split('/') as [string, string]
      // The view's own string for the key: found by identity in the maps it is looked up in.
      const cloud = group.snapshot.cloudByKey.get(cut)?.keyHex ?? cut
      const reporter = this.byHex.get(nodeHex)
      if (reporter !== undefined) {
        reporter.dirtyClouds.add(cloud)
        reporter.heldOutside = null
      }
      // Every holder, targets too: a node judging with its own observer may see other targets.
      for (const holder of group.snapshot.holdings.get(cloud)?.keys() ?? []) this.byHex.get(holder)?.dirtyClouds.add(cloud)
    }
  }

  /** Every observer reading this group's view sees its heartbeats, as readView does. */
  private observeGroup (group: ViewGroup): void {
    group.observer.observe(group.snapshot)
    for (const node of this.nodes) {
      if (node.observer !== undefined && node.observer !== group.observer && node.up && this.groupOf.get(node) === group) node.observer.observe(group.snapshot)
    }
  }

  /** The liveness and reconcile tick every node runs (Bevy's 1 s repeater). */
  private tick (): void {
    for (const group of this.groups) group.observer.recompute(group.snapshot)
    const main = this.mainGroup()
    this.trackNecessaryMoves(main)
    for (const node of this.nodes) {
      if (!node.up) continue
      const group = this.groupOf.get(node) as ViewGroup
      if (node.privateUntilMs !== null && this.nowMs >= node.privateUntilMs && node.skewMs === 0) {
        node.observer = group.observer
        node.privateUntilMs = null
      }
      const placement = node.observer === group.observer ? group.observer.placement as Placement : node.observer.recompute(group.snapshot)
      this.reconcileChanged(node, placement, group)
    }
    if (this.nowMs >= this.schedule.faultsEndMs && this.checks.recoveredAtMs === null && this.nowMs % RECOVERY_CHECK_MS < this.tickMs) {
      if (this.groups.length === 1 && this.underReplicated(main) === 0) this.checks.recoveredAtMs = this.nowMs
    }
    this.queue.push(this.nowMs + this.tickMs, { type: 'tick' })
  }

  /**
   * What Bevy's reconcile tick would do, deciding only the clouds whose inputs may have changed
   * since the node last reconciled (every other cloud would get its last answer again). Reconcile
   * reads, per cloud, whether the placement wants it here, the node's copy and the view's record
   * of it: a cloud marked dirty changed in the last two; a change of targets changes whether it
   * is wanted for clouds that joined or left the node's targets and, through handoff, for clouds
   * the node holds outside its targets. A (re)started or resumed node reconciles everything.
   */
  private reconcileChanged (node: SimNode, placement: Placement, group: ViewGroup): void {
    const last = node.reconciledTargets
    if (node.dirty || last === null) return this.reconcile(node, placement)
    if (placement.targetsToken === last.token) {
      if (node.dirtyClouds.size > 0) this.reconcileClouds(node, [...node.dirtyClouds], placement)
      return
    }
    // Positions from the same reference compare without listing the clouds (most nodes' targets
    // stay the same when another node goes down); the list itself is only built when they differ.
    const positions = placement.targetPositionsOf(node.idHex)
    const comparable = last.reference === placement.referenceToken
    const same = comparable ? sameInts(positions, last.positions) : sameList(placement.targetsOf(node.idHex), last.mine)
    const mine = same ? last.mine : placement.targetsOf(node.idHex)
    const clouds = new Set(node.dirtyClouds)
    let outside = node.heldOutside
    if (!same || outside === null || outside.of !== last.mine) {
      // The target list as a set, kept while the list stays the same (the same object, see above).
      const wanted = node.wanted?.of === mine ? node.wanted.set : new Set(mine)
      node.wanted = { of: mine, set: wanted }
      if (!same) {
        if (comparable) {
          // Both lists ascend by position: what each has that the other lacks, in its own order.
          addMissing(positions, mine, last.positions, clouds)
          addMissing(last.positions, last.mine, positions, clouds)
        } else {
          const before = new Set(last.mine)
          for (const c of mine) if (!before.has(c)) clouds.add(c)
          for (const c of last.mine) if (!wanted.has(c)) clouds.add(c)
        }
      }
      // Held here or in the view outside the targets: a handoff, or a copy to purge.
      const held = new Set<string>()
      for (const c of node.open) if (!wanted.has(c)) held.add(c)
      for (const c of node.purging) if (!wanted.has(c)) held.add(c)
      for (const c of group.snapshot.heldBy.get(node.idHex) ?? []) if (!wanted.has(c)) held.add(c)
      outside = { of: mine, clouds: [...held] }
    }
    node.heldOutside = { of: mine, clouds: outside.clouds }
    for (const c of outside.clouds) clouds.add(c)
    if (!this.mayReconcile(node)) return
    node.reconciledTargets = { token: placement.targetsToken, reference: placement.referenceToken, positions, mine }
    if (clouds.size > 0) this.reconcileClouds(node, [...clouds], placement)
    if (this.opts.verifyIncremental === true) this.verifyNothingLeft(node, placement)
  }

  /** A full reconcile right after a partial one must do nothing the partial one left undone. */
  private verifyNothingLeft (node: SimNode, placement: Placement): void {
    const group = this.groupOf.get(node) as ViewGroup
    const full = node.reconciler.reconcile(group.snapshot, placement, node)
    const left: Array<[cloud: string, what: string]> = [
      ...full.ops.map((op): [string, string] => op.type === OpType.CLOUD_HOLD ? [op.key.toString('hex'), 'hold'] : ['', `op ${op.type}`]),
      ...full.open.map((c): [string, string] => [c, 'open']),
      // A purge under way is asked for again by every full reconcile.
      ...full.release.filter((c) => !node.purging.has(c)).map((c): [string, string] => [c, 'release'])
    ]
    // Clouds still marked dirty are due next tick (a newly opened copy reports its state then).
    const missed = left.filter(([cloud]) => !node.dirtyClouds.has(cloud))
    if (missed.length > 0) throw new Error(`${node.name} at ${this.nowMs} ms: a partial reconcile left ${missed.slice(0, 3).map(([c, what]) => `${what} ${c}`).join(', ')}`)
  }

  /** Reconciles every cloud of the node, as Bevy.reconcile does. */
  private reconcile (node: SimNode, placement: Placement): void {
    if (!this.mayReconcile(node)) return
    const group = this.groupOf.get(node) as ViewGroup
    node.dirty = false
    node.dirtyClouds.clear()
    node.reconciledTargets = { token: placement.targetsToken, reference: placement.referenceToken, positions: placement.targetPositionsOf(node.idHex), mine: placement.targetsOf(node.idHex) }
    this.carryOut(node, node.reconciler.reconcile(group.snapshot, placement, node))
  }

  /** Reconciles only `clouds`: the same decisions, for a node whose other clouds did not change. */
  private reconcileClouds (node: SimNode, clouds: string[], placement: Placement | null): void {
    if (placement === null || !this.mayReconcile(node)) {
      for (const cloud of clouds) node.dirtyClouds.add(cloud)
      return
    }
    const group = this.groupOf.get(node) as ViewGroup
    for (const cloud of clouds) node.dirtyClouds.delete(cloud)
    this.carryOut(node, node.reconciler.reconcileClouds(clouds, group.snapshot, placement, node))
  }

  /** As Bevy.reconcile: a node that has not read the view lately does not act on old ages. */
  private mayReconcile (node: SimNode): boolean {
    if (node.observer.tracker.stale(node.clock.now())) return false
    node.lamport.observe((this.groupOf.get(node) as ViewGroup).snapshot.maxLamport)
    return true
  }

  /** Carries out what reconcile decided: opens, purges and hold records. */
  private carryOut (node: SimNode, actions: ReconcileActions): void {
    if (actions.open.length > 0 || actions.release.length > 0) {
      this.servingEpoch++
      node.heldOutside = null
    }
    for (const cloud of actions.open) {
      node.open.add(cloud)
      node.releasedHere.delete(cloud)
      if (node.disk.get(cloud)?.synced !== true) node.syncQueue.push(cloud)
      // Open now, the copy answers for itself (synced or not) where the view was read before.
      node.dirtyClouds.add(cloud)
    }
    for (const cloud of actions.release) {
      node.open.delete(cloud)
      node.purging.add(cloud)
      this.queue.push(this.nowMs + PURGE_MS, { type: 'purge-done', node, cloud })
    }
    for (const op of actions.ops) this.send(node, op)
    this.startSync(node)
  }

  // ---- data movement --------------------------------------------------------------------------

  private startSync (node: SimNode): void {
    if (!node.up || node.syncing !== null) return
    while (node.syncQueue.length > 0) {
      const cloud = node.syncQueue[0] as string
      const copy = node.disk.get(cloud)
      if (!node.open.has(cloud) || copy?.synced === true) { node.syncQueue.shift(); continue }
      const group = this.groupOf.get(node)
      // Only a complete copy can serve; in node order, as a scan over all nodes would list them.
      const sources = [...this.completeCopies.get(cloud) ?? []]
        .filter((n) => n !== node && n.serves(cloud) && this.groupOf.get(n) === group)
        .sort((a, b) => a.index - b.index)
      if (sources.length === 0) {
        // Nobody reachable has it complete yet: try the others, and this one again later.
        node.syncQueue.push(node.syncQueue.shift() as string)
        this.queue.push(this.nowMs + SYNC_RETRY_MS, { type: 'sync-retry', node })
        return
      }
      node.syncQueue.shift()
      const size = this.cloudSize.get(cloud) as number
      if (copy === undefined) node.disk.set(cloud, { sizeBytes: size, haveBytes: 0, synced: false })
      const bytes = size - (copy?.haveBytes ?? 0)
      const token = ++this.syncToken
      node.syncing = { cloud, source: sources[rngInt(this.rng, sources.length)] as SimNode, startMs: this.nowMs, bytes, token }
      this.queue.push(this.nowMs + Math.ceil(bytes * 1000 / this.sc.disk.syncBytesPerSec), { type: 'sync-done', node, token })
      return
    }
  }

  private syncDone (node: SimNode, token: number): void {
    const job = node.syncing
    if (job === null || job.token !== token) return
    node.syncing = null
    const copy = node.disk.get(job.cloud)
    if (copy !== undefined && node.up && job.source.serves(job.cloud) && this.groupOf.get(job.source) === this.groupOf.get(node)) {
      copy.haveBytes = copy.sizeBytes
      if (!copy.synced) {
        copy.synced = true
        this.servingEpoch++
        this.addCompleteCopy(job.cloud, node)
      }
      this.copies++
      this.bytesMoved += job.bytes
      if (node.open.has(job.cloud)) this.reconcileClouds(node, [job.cloud], node.observer.placement)
    } else if (node.open.has(job.cloud)) {
      node.syncQueue.push(job.cloud) // the source went away: find another
    }
    this.startSync(node)
  }

  /** A crash or pause cuts a sync short; what arrived so far stays on disk. */
  private interruptSync (node: SimNode): void {
    const job = node.syncing
    if (job === null) return
    const copy = node.disk.get(job.cloud)
    if (copy !== undefined) copy.haveBytes = Math.min(copy.sizeBytes, copy.haveBytes + Math.floor((this.nowMs - job.startMs) * this.sc.disk.syncBytesPerSec / 1000))
    node.syncing = null
  }

  private purgeDone (node: SimNode, cloud: string): void {
    if (!node.up || !node.purging.has(cloud)) return // crashed mid-purge: the copy is still on disk
    node.purging.delete(cloud)
    node.heldOutside = null
    this.servingEpoch++
    const copy = node.disk.get(cloud)
    node.disk.delete(cloud)
    node.releasedHere.add(cloud)
    if (copy?.synced === true) {
      const holders = this.completeCopies.get(cloud)
      holders?.delete(node)
      if ((holders?.size ?? 0) === 0 && this.isRegistered(cloud)) this.checks.noCloudLost.violate(this.nowMs, `${node.name} purged the last complete copy of cloud ${cloud.slice(0, 8)}`)
    }
    this.reconcileClouds(node, [cloud], node.observer.placement)
  }

  private addCompleteCopy (cloud: string, node: SimNode): void {
    let holders = this.completeCopies.get(cloud)
    if (holders === undefined) this.completeCopies.set(cloud, holders = new Set())
    holders.add(node)
  }

  private isRegistered (cloud: string): boolean {
    return this.mainGroup().snapshot.cloudByKey.has(cloud)
  }

  // ---- clients --------------------------------------------------------------------------------

  private clientGapMs (): number {
    // Exponential gaps: requests arrive as a Poisson process.
    return Math.max(1, Math.round(-Math.log(1 - rngFloat(this.rng)) * 1000 / this.sc.clients.requestsPerSec))
  }

  /** One client request to a random node for a random cloud, in the default redirect mode. */
  private client (): void {
    this.queue.push(this.nowMs + this.clientGapMs(), { type: 'client' })
    if (this.cloudKeys.length === 0) return
    const cloud = this.cloudKeys[rngInt(this.rng, this.cloudKeys.length)] as string
    this.requests++
    this.windowRequests++
    const existing = this.nodes.filter((n) => n.status !== 'absent' && n.status !== 'joining')
    // A client whose node does not answer tries one other, like a browser with two addresses.
    let entry = existing[rngInt(this.rng, existing.length)] as SimNode
    if (!entry.up) entry = existing[rngInt(this.rng, existing.length)] as SimNode
    if (!entry.up || entry.observer.placement === null) return
    // A node holding a synced copy serves a request it would otherwise redirect, as Bevy.routeCloud
    // does (RouteOptions.redirect): the client follows a 307 with no hop header, so only that rule
    // keeps two replicas from bouncing it between them.
    if (entry.serves(cloud)) {
      this.checks.routedRequests++
      this.countServed(entry, cloud)
      return
    }
    const group = this.groupOf.get(entry) as ViewGroup
    const signals = replicaSignals(cloud, {
      placement: entry.observer === group.observer ? group.observer.placement : entry.observer.placement,
      snapshot: group.snapshot,
      tracker: entry.observer.tracker,
      nowMs: entry.clock.now(),
      selfHex: entry.idHex,
      localSynced: (c) => entry.serves(c),
      feedback: entry.feedback
    })
    const chosen = chooseReplica(signals, {
      nowMs: entry.clock.now(),
      suspectAfterMs: this.config.suspectAfterMs,
      self: entry.idHex,
      inFlightCostPermille: this.config.routeInFlightCostPermille,
      localMarginPermille: this.config.routeLocalMarginPermille
    }, this.rng)
    if (chosen === null) return // 503: no live, synced replica as this node sees it
    const target = this.byHex.get(chosen.node) as SimNode
    this.checks.routedRequests++
    if (target.unreachableSinceMs !== null && this.nowMs - target.unreachableSinceMs > this.detectionBoundMs()) {
      this.checks.routedToDown++
      this.checks.routerAvoidsDown.violate(this.nowMs, `${entry.name} sent a request to ${target.name}, unreachable since ${this.nowMs - target.unreachableSinceMs} ms`)
    }
    this.countServed(target, cloud)
  }

  private countServed (target: SimNode, cloud: string): void {
    if (this.spiking()) {
      this.spikeRequests++
      if (target.spikeLoadPermille !== null) this.spikedRequests++
    }
    if (target.serves(cloud)) {
      this.served++
      this.windowServed++
    }
  }

  /**
   * How long after a process dies every router may still pick it: its last heartbeat can be up
   * to one interval old, reach the view after the worst network delay and the apply batch, and
   * then must age suspectAfterMs.
   */
  private detectionBoundMs (): number {
    const net = this.sc.network
    return this.config.leaseIntervalMs + net.latencyMs + net.jitterMs + MAX_RETRANSMITS * net.retransmitMs + APPLY_INTERVAL_MS + this.config.suspectAfterMs + Math.max(0, this.config.leaseIntervalMs - this.config.heartbeatIntervalMs)
  }

  private spiking (): boolean {
    return this.nodes.some((n) => n.spikeLoadPermille !== null)
  }

  // ---- faults ---------------------------------------------------------------------------------

  private act (a: Action): void {
    const node = 'node' in a ? this.nodes[a.node] as SimNode : null
    this.servingEpoch++ // a process stops or starts, or the network splits or heals
    switch (a.kind) {
      case 'crash':
        if (node === null || (node.status !== 'up' && node.status !== 'paused')) return
        this.interruptSync(node)
        node.status = 'crashed'
        node.unreachableSinceMs ??= this.nowMs
        node.purging.clear()
        node.heldOutside = null
        return
      case 'restart':
        if (node === null || node.status !== 'crashed') return
        node.restartProcess()
        node.status = 'up'
        node.unreachableSinceMs = null
        this.startProcess(node)
        return
      case 'pause': {
        if (node === null || node.status !== 'up') return
        this.interruptSync(node)
        node.status = 'paused'
        node.unreachableSinceMs = this.nowMs
        // The stopped process judges nothing: its tracker is frozen where it was.
        const group = this.groupOf.get(node) as ViewGroup
        if (node.observer === group.observer) node.observer = this.newObserver(group.observer.tracker.clone(), node.clock)
        node.observer.frozen = true
        return
      }
      case 'resume': {
        if (node === null || node.status !== 'paused') return
        node.status = 'up'
        node.unreachableSinceMs = null
        node.observer.frozen = false
        node.privateUntilMs = this.nowMs + this.config.downAfterMs + this.config.rejoinStableMs
        // Overdue timers fire first on SIGCONT: the reconcile tick runs before the next view read.
        node.dirty = true
        const group = this.groupOf.get(node) as ViewGroup
        this.reconcile(node, node.observer.recompute(group.snapshot))
        this.queue.push(this.nowMs, { type: 'heartbeat', node })
        for (const cloud of node.open) if (node.disk.get(cloud)?.synced !== true && !node.syncQueue.includes(cloud)) node.syncQueue.push(cloud)
        this.startSync(node)
        return
      }
      case 'skew':
        if (node === null) return
        node.skewMs = a.offsetMs
        if (node.observer === (this.groupOf.get(node) as ViewGroup | undefined)?.observer) node.observer = this.newObserver(node.observer.tracker.clone(), node.clock)
        return
      case 'spike': if (node !== null) node.spikeLoadPermille = a.loadPermille; return
      case 'unspike': if (node !== null) node.spikeLoadPermille = null; return
      case 'partition': return this.partition(a.side)
      case 'heal': return void this.heal()
      case 'join': {
        if (node === null || node.status !== 'absent') return
        const group = this.mainGroup()
        this.groupOf.set(node, group)
        node.status = 'joining'
        const sponsor = this.nodes.find((n) => n.up && this.groupOf.get(n) === group)
        if (sponsor !== undefined) this.send(sponsor, { type: OpType.ADD_WRITER, key: node.writer, inviteId: NO_INVITE })
        return
      }
      case 'drain': {
        if (node === null) return
        const group = this.groupOf.get(node) as ViewGroup
        const admin = this.nodes.find((n) => n.up && this.groupOf.get(n) === group)
        if (admin === undefined) return
        node.drained = true
        this.countOutage(node) // every replica it holds must be copied elsewhere
        this.send(admin, { type: OpType.DRAIN, lamport: admin.lamport.tick(), nodeId: node.id })
      }
    }
  }

  /** A process (re)starting on its disk: a fresh tracker, its heartbeat count from the view. */
  private startProcess (node: SimNode): void {
    this.servingEpoch++
    const group = this.groupOf.get(node) as ViewGroup
    node.heartbeatSeq = group.snapshot.byId.get(node.idHex)?.heartbeat?.seq ?? node.heartbeatSeq
    node.lamport.observe(group.snapshot.maxLamport)
    node.observer = this.newObserver(new LivenessTracker(this.config), node.clock)
    node.observer.observe(group.snapshot)
    node.privateUntilMs = this.nowMs + this.config.downAfterMs + this.config.rejoinStableMs
    this.queue.push(this.nowMs, { type: 'heartbeat', node })
  }

  private async checkAdmitted (node: SimNode): Promise<void> {
    const group = this.groupOf.get(node) as ViewGroup
    if (await group.store.get(ViewKey.writer(node.writer)) === null) return
    node.status = 'up'
    // A newcomer's fair share of the replicas must be copied to it: the least any placement moves.
    const members = this.nodes.filter((n) => n.status !== 'absent' && n.status !== 'joining').length
    this.necessaryCopies += Math.floor(this.cloudKeys.length * this.sc.replicas / members)
    this.startProcess(node)
    this.send(node, { type: OpType.ANNOUNCE, lamport: node.lamport.tick(), nodeId: node.id, url: node.url, zone: node.zone, capacity: node.capacityBytes })
  }

  private partition (side: number[]): void {
    const from = this.groupOf.get(this.nodes[side[0] as number] as SimNode) as ViewGroup
    const other = from.split(this.nextGroupId++, (tracker) => this.newObserver(tracker, this.trueClock))
    this.groups.push(other)
    for (const i of side) {
      const node = this.nodes[i] as SimNode
      if (this.groupOf.get(node) !== from) continue
      this.groupOf.set(node, other)
      if (node.observer === from.observer) node.observer = other.observer
    }
    other.observer.recompute(other.snapshot)
    this.partitionedSinceMs ??= this.nowMs
  }

  private async heal (): Promise<void> {
    const main = this.mainGroup()
    for (const group of this.groups) {
      if (group === main) continue
      await main.absorb(group)
      for (const node of this.nodes) {
        if (this.groupOf.get(node) !== group) continue
        this.groupOf.set(node, main)
        if (node.observer === group.observer) node.observer = main.observer
      }
    }
    this.groups = [main]
    main.log = null
    this.partitionedSinceMs = null
    this.partitionCounted = false
    this.observeGroup(main)
  }

  /** The group most nodes are in: the one whose view the checkers judge. */
  private mainGroup (): ViewGroup {
    if (this.groups.length === 1) return this.groups[0] as ViewGroup
    const count = (g: ViewGroup) => this.nodes.filter((n) => this.groupOf.get(n) === g).length
    return this.groups.reduce((best, g) => count(g) > count(best) ? g : best)
  }

  // ---- checkers -------------------------------------------------------------------------------

  /**
   * Copies the faults made necessary: every target slot of a node that stayed unreachable past
   * downAfterMs (or was drained) needs one copy elsewhere, and joiners need their fair share.
   * A node that was only slow or briefly away needs none.
   */
  private trackNecessaryMoves (main: ViewGroup): void {
    const placement = main.observer.placement
    if (placement === null) return
    if (this.partitionedSinceMs !== null && !this.partitionCounted && this.nowMs - this.partitionedSinceMs >= this.config.downAfterMs) {
      // Each side replaces the replicas it cannot reach: the slots of every node on other sides.
      this.partitionCounted = true
      for (const group of this.groups) {
        for (const node of this.nodes) if (this.groupOf.get(node) !== group && !this.outageCounted.has(node)) this.necessaryCopies += this.lastTargets.get(node) ?? 0
      }
    }
    for (const node of this.nodes) {
      if (node.unreachableSinceMs === null) {
        this.outageCounted.delete(node)
        // While partitioned, the main side sees the far side as down: keep their last real share.
        if (node.up && !node.drained && this.groups.length === 1) this.lastTargets.set(node, placement.targetCount(node.idHex))
      } else if (this.nowMs - node.unreachableSinceMs >= this.config.downAfterMs) {
        this.countOutage(node)
      }
    }
  }

  private countOutage (node: SimNode): void {
    if (this.outageCounted.has(node)) return
    this.outageCounted.add(node)
    this.necessaryCopies += this.lastTargets.get(node) ?? 0
  }

  /**
   * Clouds with fewer targets that actually serve them than they should have. The answer is
   * kept until the targets, the clouds or what any node serves may have changed: at 100k clouds
   * a count costs ~100 ms, and most samples of a long run look at a bevy that did not change.
   */
  private underReplicated (group: ViewGroup): number {
    const placement = group.observer.placement
    if (placement === null) return this.cloudKeys.length
    const last = this.underReplicatedCount
    if (last !== null && last.group === group && last.targets === placement.targetsToken && last.clouds === group.snapshot.clouds && last.servingEpoch === this.servingEpoch) return last.under
    const under = this.countUnderReplicated(group, placement)
    this.underReplicatedCount = { group, targets: placement.targetsToken, clouds: group.snapshot.clouds, servingEpoch: this.servingEpoch, under }
    return under
  }

  private countUnderReplicated (group: ViewGroup, placement: Placement): number {
    // Counted per node over its targets: O(replicas) without building a set per cloud.
    const serving = new Map<string, number>()
    for (const node of this.nodes) {
      if (!node.up) continue
      for (const cloud of placement.targetsOf(node.idHex)) if (node.serves(cloud)) serving.set(cloud, (serving.get(cloud) ?? 0) + 1)
    }
    const usable = this.nodes.filter((n) => n.up && !n.drained).length
    let under = 0
    for (const cloud of group.snapshot.clouds) if ((serving.get(cloud.keyHex) ?? 0) < Math.min(cloud.replicas, usable)) under++
    return under
  }

  /**
   * Recomputes every group's placement with a fresh engine from shuffled input: it must agree.
   * A check that finds the very inputs and targets a passed check compared (a long run's quiet
   * stretches) knows the answer: the placement's targets token is the same, and so are the node
   * input, the clouds and the holdings replica sets are read from. Anything else is compared in full.
   */
  private checkDeterminism (): void {
    for (const group of this.groups) {
      // What the group's nodes compute from the view they hold right now.
      const placement = group.observer.recompute(group.snapshot)
      const nodes = group.observer.runner.inputNodes(group.snapshot)
      const clouds = group.snapshot.clouds.map((c) => ({ key: c.keyHex, replicas: c.replicas }))
      const checked: CheckedInput = { nodes: nodeInputKey(nodes), clouds: group.snapshot.clouds, holdings: group.snapshot.holdings, targets: placement.targetsToken }
      // Shuffled either way, so a check that is spared draws what a full one would.
      const input = { nodes: rngShuffle(nodes, this.rng), clouds: rngShuffle(clouds, this.rng), holdings: group.snapshot.holdings }
      this.checks.determinismChecks++
      if (this.opts.freshEveryCheck !== true && sameCheckedInput(this.lastPassedCheck.get(group), checked)) continue
      const fresh = new PlacementEngine({ epsilonPermille: this.config.loadEpsilonPermille }).compute(input)
      const differs = clouds.find((cloud) => !sameReplicas(placement.replicaSet(cloud.key), fresh.replicaSet(cloud.key)))
      if (differs === undefined) {
        this.lastPassedCheck.set(group, checked)
        continue
      }
      this.checks.sameOpsSameReplicas.violate(this.nowMs, `cloud ${differs.key.slice(0, 8)}: ${JSON.stringify(placement.replicaSet(differs.key))} vs ${JSON.stringify(fresh.replicaSet(differs.key))}`)
    }
  }

  private sample (): void {
    const main = this.mainGroup()
    this.series.atMs.push(this.nowMs)
    this.series.liveNodes.push(this.nodes.filter((n) => n.up).length)
    this.series.underReplicated.push(this.underReplicated(main))
    this.series.copies.push(this.copies)
    this.series.availability.push(this.windowRequests === 0 ? 1 : round4(this.windowServed / this.windowRequests))
    this.windowRequests = 0
    this.windowServed = 0
    const every = Math.max(this.tickMs, Math.ceil(this.endMs / SERIES_POINTS / 1000) * 1000)
    // Determinism is checked at a handful of points: a fresh full computation is the costly part.
    if (this.series.atMs.length % Math.ceil(SERIES_POINTS / 6) === 1) this.checkDeterminism()
    this.queue.push(this.nowMs + every, { type: 'sample' })
  }

  private result (): SimResult {
    this.checkDeterminism()
    const main = this.mainGroup()
    const cloudsWithCopy = this.cloudKeys.filter((c) => (this.completeCopies.get(c)?.size ?? 0) > 0).length
    const invariants = this.checks.verdicts({
      faultsEndMs: this.schedule.faultsEndMs,
      recoveryBoundMs: this.sc.recoveryBoundMs,
      replicas: this.sc.replicas,
      underReplicatedAtEnd: this.underReplicated(main),
      detectionBoundMs: this.detectionBoundMs(),
      copies: this.copies,
      necessaryCopies: this.necessaryCopies,
      movesBound: MOVES_BOUND,
      movesSlack: 2 * this.sc.replicas,
      clouds: this.cloudKeys.length,
      cloudsWithCopy
    })
    const recovered = this.checks.recoveredAtMs
    return {
      ok: invariants.every((v) => v.ok),
      seed: this.opts.seed,
      scenario: this.sc.name,
      params: {
        nodes: this.schedule.initialNodes,
        totalNodes: this.schedule.totalNodes,
        zones: this.sc.zones,
        clouds: this.sc.clouds,
        replicas: this.sc.replicas,
        durationMs: this.sc.durationMs,
        endMs: this.endMs
      },
      schedule: this.schedule.actions.map((s) => ({ atMs: s.atMs, what: describeAction(s.action, (n) => `n${n}`) })),
      invariants,
      summary: {
        requests: this.requests,
        served: this.served,
        availability: this.requests === 0 ? 1 : round4(this.served / this.requests),
        copies: this.copies,
        necessaryCopies: this.necessaryCopies,
        bytesMoved: this.bytesMoved,
        opsApplied: this.opsApplied,
        faultsEndMs: this.schedule.faultsEndMs,
        recoveredAfterMs: recovered === null ? null : Math.max(0, recovered - this.schedule.faultsEndMs),
        spikedShareOfRequests: this.spikeRequests === 0 ? null : round4(this.spikedRequests / this.spikeRequests)
      },
      series: this.series
    }
  }
}

/** What a determinism check compares: the node input as judged, the clouds, the holdings, and the targets. */
interface CheckedInput { nodes: string, clouds: object, holdings: object, targets: object }

function sameCheckedInput (a: CheckedInput | undefined, b: CheckedInput): boolean {
  return a !== undefined && a.nodes === b.nodes && a.clouds === b.clouds && a.holdings === b.holdings && a.targets === b.targets
}

function nodeInputKey (nodes: PlacementNode[]): string {
  return nodes.map((n) => `${n.id}:${n.zone}:${n.capacityBytes}:${n.eligible ? 1 : 0}${n.serving ? 1 : 0}`).join(',')
}

/** Adds to `out` the keys whose positions (ascending, one per key) are not in `other` (ascending). */
function addMissing (positions: Int32Array, keys: readonly string[], other: Int32Array, out: Set<string>): void {
  let j = 0
  for (let i = 0; i < positions.length; i++) {
    const pos = positions[i] as number
    while (j < other.length && (other[j] as number) < pos) j++
    if (j === other.length || other[j] !== pos) out.add(keys[i] as string)
  }
}

function sameInts (a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameReplicas (a: Replica[] | undefined, b: Replica[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.length !== b.length) return false
  return a.every((r, i) => r.node === b[i]?.node && r.role === b[i]?.role && r.synced === b[i]?.synced)
}

function round4 (x: number): number {
  return Math.round(x * 10_000) / 10_000
}
