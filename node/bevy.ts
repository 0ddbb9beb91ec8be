// The node runtime: storage, swarm, the cluster log, admission, heartbeats and liveness.
// Lifecycle: ready() opens children in order; close() closes them in reverse. Both idempotent.
import ProtomuxWakeup from 'protomux-wakeup'
import { createHash, randomBytes } from 'node:crypto'
import Autobase from 'autobase'
import BlindPairing, { type Member } from 'blind-pairing'
import Corestore from 'corestore'
import CoreStorage from 'hypercore-storage'
import Hyperswarm, { type PeerDiscovery, type SwarmConnection } from 'hyperswarm'
import ReadyResource from 'ready-resource'
import {
  BevyError, ErrorCode, formatKey, hexKey, isGone, NodeState, NO_INVITE, OpType, parseKey, ViewKey, type Clock, type EpochAdvert, type JoinEpochRequest,
  type Load, type ProgressRecord, type Rng
} from '../protocol/index.js'
import { discoveryKey } from 'hypercore-crypto'
import { chooseReplica, LivenessTracker, rankReplicas, type Placement, type Replica } from '../placement/index.js'
import { ClusterBase } from './cluster-base.js'
import { EpochKeeper, type EpochRef } from './epochs.js'
import { coresOfWriters, deleteCores } from './delete-cores.js'
import { splitHeldCores } from './epoch-cores.js'
import { leaseDue, smoothLoad, type Lease } from './lease.js'
import type { NodeConfig } from './config.js'
import { CloudHost } from './clouds/cloud-host.js'
import type { ReplicaState } from './clouds/cloud-replica.js'
import { dirBytes, freeDiskBytes } from './disk.js'
import { EventJournal } from './events.js'
import { fleetChoice, FleetLinks, fleetInvite, fleetTopic, FLEET_INVITE_EXPIRES_MS, FLEET_INVITE_USES, type FleetJoin } from './fleet.js'
import { fullReason } from './fullness.js'
import { LoadSampler } from './load-sampler.js'
import { silentLogger, type Logger } from './log.js'
import { Mesh } from './mesh.js'
import { createInvite, inviteIdOf, memberHandler, pairWithInvite, parseInvite, type Invite } from './pairing.js'
import { buildStatus, nodeState, type NodeStatusState, type StatusReport } from './status.js'
import {
  ensureStorage, loadOrCreateAdminToken, paths, readBevyFile, readCarryFile, removeCarryFile, retireBevyFile, writeBevyFile,
  writeCarryFile, markRunning, clearRunningMark, type CarryFile
} from './storage.js'
import { PlacementRunner } from './placement-runner.js'
import { Reconciler } from './reconciler.js'
import { HostedService } from './hosted/hosted-service.js'
import { HostedCloud } from './hosted/hosted-cloud.js'
import { DeviceRequestDesk } from './hosted/device-requests.js'
import type { ServableDrive } from '../router/drive-response.js'
import { replicaSignals, type RoutedReplica } from './route-signals.js'
export type { RoutedReplica } from './route-signals.js'
import { RouteFeedback } from './route-feedback.js'
import { PeerFirewall } from './peer-firewall.js'
import { PeerPings } from './peer-pings.js'
import { Coalesced, cryptoRng, Repeater, systemClock } from './timer.js'
import { EMPTY_SNAPSHOT, type CloudView, type ClusterSnapshot } from './view/snapshot.js'
import { viewEvents } from './view/view-events.js'

export interface ReplicaInfo {
  node: string
  url: string | null
  role: 'target' | 'handoff'
  synced: boolean
  /** Share of the known bytes this replica has, 0 to 1. */
  progress: number
  state: ReplicaState
  version: number
  blocks: { had: number, total: number }
  bytes: { had: number, total: number }
  peers: number
}

export interface CloudInfo {
  key: string
  replicas: number
  /** True for a hosted (multi-writer) cloud, which takes writes at its replicas. */
  hosted: boolean
  /** A hosted cloud's own Autobase key (owner devices open it); absent for owner-held clouds. */
  base?: string
  placement: ReplicaInfo[]
}

/** Where a request for a cloud can be answered. */
export type CloudRoute =
  | { kind: 'local', drive: ServableDrive, hosted?: boolean }
  | { kind: 'remote', node: string, nodeHex: string, url: string }
  | { kind: 'unavailable' }

export interface RouteOptions {
  /** Replicas (hex ids) not to choose: nodes the request passed through, or a failed attempt. */
  exclude?: ReadonlySet<string>
  /** The request came from another node (it carries the hop header). */
  hopped?: boolean
  /**
   * A remote choice will be answered with a 307. The client follows it without the hop header,
   * so the replica it lands on cannot tell it was sent there: were that replica to send it on
   * whenever it judged itself clearly busier, two replicas that each see themselves as the busier
   * one (their own load fresh, the other's a heartbeat old) would bounce the client between them
   * until it gave up. So a node holding a synced copy serves such a request itself.
   */
  redirect?: boolean
}


export interface BevyOptions {
  config: NodeConfig
  /** The URL this node announces; the HTTP layer knows it once it listens. */
  url: string
  clock?: Clock
  rng?: Rng
  log?: Logger
}

/** Fleet mode: after the lookup settled, how long a node waits for peers whose connection is in flight before it founds. */
const FLEET_HELLO_GRACE_MS = 250
/** Fleet mode: how long a joiner waits on the member that took its request on before it asks another (each would append it again). */
const FLEET_ACCEPTED_PATIENCE_MS = 10_000
/** Fleet mode: how often a joiner asks the next member when none has taken its request on yet. */
const FLEET_ASK_INTERVAL_MS = 1000
/**
 * Fleet mode: requests to join that arrive this close together are admitted in one append. A
 * fleet booting at once asks within a few hundred ms; one batch changes the indexer set (the first
 * writers index) once instead of once per writer, and every change reboots every node's view.
 */
const FLEET_ADMIT_BATCH_MS = 100

/**
 * The compaction that returns a purged cloud's space. Cleared blocks live in RocksDB blob files
 * shared with other cores' blocks; a plain compaction leaves those files alone (measured: 0 of
 * 6 MB back), so blob GC is forced over every file and the bottom level is rewritten too. It
 * costs a rewrite of the live blobs, which is why purges coalesce into one compaction.
 */
const RECLAIM_COMPACTION = { blobGarbageCollectionPolicy: 1, blobGarbageCollectionAgeCutoff: 1, bottommostLevelCompaction: 2 } as const

/** How stale the placement the request path routes by may be (see routingPlacement). */
const ROUTE_PLACEMENT_TTL_MS = 100
/** How often deleting old epoch cores a peer still held is tried again (Corestore lets go of an idle core within about a minute). */
const OLD_CORES_RETRY_MS = 30_000

/** How long a leaving node waits for a peer to hold its leave op before it stops anyway. */
const LEAVE_REPLICATION_TIMEOUT_MS = 10_000

/** How long a freshly paired node waits for a peer to say which epoch's log the bevy writes to. */
const JOIN_ADVERT_WAIT_MS = 5000

/**
 * Where members find each other: apart from the bevy's discovery key, on which members' open
 * swarms answer invites, so the two swarms do not dial each other's keys.
 */
function membersTopic (bevyKey: Buffer): Buffer {
  return createHash('sha256').update('cloud-bevy/members').update(bevyKey).digest()
}

export class Bevy extends ReadyResource {
  readonly config: NodeConfig
  readonly clock: Clock
  readonly rng: Rng
  /** This node's own evidence about the replicas it sends requests to. */
  readonly routing = new RouteFeedback()
  readonly log: Logger
  /** Recent joins, state changes, moves and handoffs, as this node saw them; each is also logged. */
  readonly events: EventJournal
  /** Set by the HTTP layer once it listens, before ready(). */
  url: string
  /** True when this node founded its bevy in this run. */
  founded = false
  /** The first invite of a freshly founded bevy, for the founder to print. */
  foundingInvite: Invite | null = null
  adminToken = ''
  snapshot: ClusterSnapshot = EMPTY_SNAPSHOT

  private store: Corestore | null = null
  private host: CloudHost | null = null
  private diskBytes = 0
  /** The members' swarm: its key is the node id, its firewall admits members only (see PeerFirewall). */
  private swarm: Hyperswarm | null = null
  /** The open swarm: cloud replication with anyone (owners, readers) and pairing by invite. */
  private openSwarm: Hyperswarm | null = null
  /** Shared by every Autobase here (the cluster log, hosted clouds): peers hint which writers have news, so a copy that was away learns of writers it no longer follows. */
  private readonly wakeup = new ProtomuxWakeup()
  private firewall: PeerFirewall | null = null
  /** The hosted records the last check for copies opened as the wrong kind saw (reopenMisread). */
  private hostedBasesChecked: ReadonlyMap<string, Buffer> | null = null
  private joinedTopic = false
  private pairing: BlindPairing | null = null
  private member: Member | null = null
  /** Fleet mode: the fleet channel on open-swarm connections, and the fleet topic's discovery. */
  private fleet: FleetLinks | null = null
  private fleetDiscovery: PeerDiscovery | null = null
  /**
   * Fleet mode: this node's request to be admitted to the fleet's bevy, while it is not a writer
   * yet: how many members it asked, and when one last took the request on.
   */
  private fleetJoin: { bevy: Buffer, request: FleetJoin, asked: number, acceptedAt: number | null } | null = null
  /** Fleet mode: writers being admitted, so a repeated request is not appended twice. */
  private readonly fleetAdmitting = new Set<string>()
  /** Fleet mode: requests to admit, gathered for one append (see FLEET_ADMIT_BATCH_MS). */
  private readonly fleetQueue = new Map<string, FleetJoin>()
  private fleetFlush: NodeJS.Timeout | null = null
  /** Fleet mode: the smaller bevy this node is moving into, once it knows of one. */
  private mergeTarget: Buffer | null = null
  private cluster: ClusterBase | null = null
  /** The bevy's lasting key (topic, invites) and namespace, and the epoch whose log `cluster` is. */
  private bevyKey: Buffer | null = null
  private bevyNamespace = ''
  private epoch: EpochRef | null = null
  private epochs: EpochKeeper | null = null
  /** Newest epoch a peer advertised, for a node that missed a rotation. */
  private heardEpoch: { advert: EpochAdvert, peerHex: string } | null = null
  private mesh: Mesh | null = null
  private nodeId: Buffer | null = null
  private nodeIdText: string | null = null
  private nodeIdHex: string | null = null
  private heartbeatSeq = 0
  /** The last lease this node wrote: when, and with which load. */
  private lastLease: Lease | null = null
  /** The load average leases carry and compare (see smoothLoad). */
  private smoothedLoad: Lease | null = null
  /** A peer lost its last ping link to this node since the last lease (see leaseDue). */
  private leaseLinkLost = false
  /** This node's latest load sample, for the status page (leases carry the smoothed load, minutes apart). */
  private lastSample: Load | null = null
  private pings: PeerPings | null = null
  /** What a starting node waits on, for the slow-start report; null once ready. */
  private startupStep: string | null = 'opening storage'
  /** The last run did not stop cleanly: logs opened in this run recompute their unindexed tips. */
  private afterCrash = false
  /** This run holds the storage's running mark (and removes it once everything closed). */
  private markedRunning = false
  private readonly tracker: LivenessTracker
  private readonly sampler: LoadSampler
  private readonly repeaters: Repeater[] = []
  private readonly lastStates = new Map<string, NodeStatusState>()
  private readonly refresher = new Coalesced(() => this.readView(), () => this.closing !== null)
  private readonly reconcileRuns = new Coalesced(() => this.reconcile(), () => this.closing !== null)
  private readonly hostedRuns = new Coalesced(() => this.hostedService?.upkeep() ?? Promise.resolve(), () => this.closing !== null)
  private hostedService: HostedService | null = null
  private readonly deviceDesk = new DeviceRequestDesk(async (request) => this.hostedService === null || this.closing !== null ? null : await this.hostedService.decideDeviceRequest(request))
  private runner: PlacementRunner | null = null
  private reconciler: Reconciler | null = null
  private routeCache: { snapshot: ClusterSnapshot, atMs: number, placement: Placement | null } | null = null
  /** z-base-32 ids of nodes by hex id, so a routed request does not re-encode one. */
  private readonly idTexts = new Map<string, string>()
  /** Admissions to this epoch under way, so a repeated request is not appended twice. */
  private readonly admitting = new Set<string>()
  private compactStorage: (() => Promise<void>) | null = null
  private coreStorage: CoreStorage | null = null
  /** Writers of proposals this node opened and gave up on, hex: their cores go at the next move. */
  private readonly abandonedWriters = new Set<string>()
  /** Timers that retry deleting old epoch cores a peer still held. */
  private readonly pendingPurges = new Set<NodeJS.Timeout>()

  constructor (opts: BevyOptions) {
    super()
    this.config = opts.config
    this.url = opts.url
    this.clock = opts.clock ?? systemClock
    this.rng = opts.rng ?? cryptoRng()
    this.log = opts.log ?? silentLogger()
    this.events = new EventJournal({ capacity: opts.config.recentEventsKept, log: this.log, now: () => this.clock.now() })
    this.tracker = new LivenessTracker(opts.config)
    this.sampler = new LoadSampler(() => this.peerCount)
  }

  get id (): Buffer {
    if (this.nodeId === null) throw new BevyError(ErrorCode.CLOSED, 'node is not open')
    return this.nodeId
  }

  get idText (): string {
    const text = this.idTextOrNull
    if (text === null) throw new BevyError(ErrorCode.CLOSED, 'node is not open')
    return text
  }

  /** The node id once storage is open (early in ready()), else null. */
  get idTextOrNull (): string | null {
    if (this.nodeId === null) return null
    this.nodeIdText ??= formatKey(this.nodeId) // every response carries it: encode once
    return this.nodeIdText
  }

  /** The bevy's key: what invites and `bevy status` name; it stays when the log rotates. */
  get key (): Buffer {
    if (this.bevyKey === null) throw new BevyError(ErrorCode.CLOSED, 'the cluster log is not open')
    return this.bevyKey
  }

  /** The epoch this node writes in (0 until the first rotation). */
  get epochNumber (): number { return this.epoch?.epoch ?? 0 }

  get writable (): boolean { return this.cluster?.writable ?? false }

  /** The cluster log, for code that appends ops (tests, later the cloud registry). */
  get clusterLog (): ClusterBase { return this.requireCluster() }
  /** Public keys of the peers connected on the members' swarm (node ids). */
  get memberPeers (): Buffer[] { return [...(this.swarm?.connections ?? [])].map((conn) => conn.remotePublicKey) }

  protected override async _open (): Promise<void> {
    // ReadyResource does not call _close after a failed _open, so release what was opened here.
    try {
      await this.openChildren()
    } catch (err) {
      await this.closeChildren()
      throw err
    }
  }

  protected override async _close (): Promise<void> {
    await this.closeChildren()
    this.log.info('node closed')
  }

  private async openChildren (): Promise<void> {
    const report = setInterval(() => this.reportSlowStart(), this.config.startupReportIntervalMs)
    try {
      await this.openSteps()
    } finally {
      clearInterval(report)
      this.startupStep = null
    }
  }

  /** A start that takes long says what it waits on, so an operator (or a failed test) can tell. */
  private reportSlowStart (): void {
    const base = this.cluster?.base
    const view = base?.view.core
    this.log.warn({
      step: this.startupStep,
      peers: this.peerCount,
      logLength: base?.length ?? null,
      viewLength: view?.length ?? null,
      viewLocalLength: view?.contiguousLength ?? null
    }, 'still starting')
  }

  private async openSteps (): Promise<void> {
    const { storage } = this.config
    await ensureStorage(storage)
    this.adminToken = await loadOrCreateAdminToken(storage)
    const coreStorage = new CoreStorage(paths(storage).corestore, { writeBufferSize: this.config.storageWriteBufferBytes })
    this.store = new Corestore(coreStorage)
    await this.store.ready()
    this.afterCrash = await markRunning(storage)
    this.markedRunning = true
    if (this.afterCrash) this.log.warn('the last run did not stop cleanly; recomputing the logs\' unindexed tips from the writers\' logs')
    const keyPair = await this.store.createKeyPair('cloud-bevy/node')
    this.nodeId = keyPair.publicKey
    const firewall = new PeerFirewall(hexKey(keyPair.publicKey), () => this.clock.now(), this.config.admittedPeerTtlMs)
    this.firewall = firewall
    const { maxPeers } = this.config
    this.swarm = new Hyperswarm({
      keyPair,
      maxPeers,
      firewall: (remoteKey) => !firewall.allows(remoteKey),
      ...(this.config.bootstrap === null ? {} : { bootstrap: this.config.bootstrap })
    })
    // One DHT node serves both swarms: a second would double the routing upkeep of an idle node.
    this.openSwarm = new Hyperswarm({ keyPair: await this.store.createKeyPair('cloud-bevy/open'), maxPeers, dht: this.swarm.dht })
    this.coreStorage = coreStorage
    this.compactStorage = () => coreStorage.compact(RECLAIM_COMPACTION)
    this.host = new CloudHost({
      store: this.store,
      clock: this.clock,
      swarm: this.openSwarm,
      wakeup: this.wakeup,
      log: this.log,
      compact: () => coreStorage.compact(RECLAIM_COMPACTION),
      onHoldingChange: () => this.scheduleReconcile(),
      hostedBase: (cloudHex) => this.snapshot.hostedBases.get(cloudHex) ?? null,
      onHostedChange: () => this.scheduleHostedUpkeep(),
      recomputeTip: this.afterCrash
    })
    // Replicate before anything else touches the connection: BlindPairing adds its own
    // listener, and base replication must attach before Protomux.from(conn).
    this.pings = new PeerPings({
      liveness: this.config,
      now: () => this.clock.now(),
      onLost: (peer) => { this.routing.fail(peer, this.clock.now()); this.tracker.unlinked(peer); this.leaseLinkLost = true },
      onPing: (peer) => this.tracker.pinged(peer, this.clock.now()),
      onEpoch: (peer, advert) => this.heardOfEpoch(peer, advert),
      onJoinEpoch: (peer, request) => { this.admitToEpoch(peer, request).catch((err) => this.log.warn({ err }, 'admitting a node to this epoch failed')) }
    })
    this.swarm.on('connection', (conn: SwarmConnection) => this.onConnection(conn))
    this.openSwarm.on('connection', (conn: SwarmConnection) => this.onOpenConnection(conn))
    if (this.config.secret !== null) {
      this.fleet = new FleetLinks({ secret: this.config.secret, localKey: this.openSwarm.keyPair.publicKey, bevy: () => this.bevyKey, onPeer: (_peer, bevy) => this.considerMerge(bevy), onJoin: async (_peer, request) => this.acceptFleetJoiner(request), onAccepted: (_peer, writerKey) => this.fleetJoinAccepted(writerKey) })
      this.fleetDiscovery = this.openSwarm.join(fleetTopic(this.config.secret), { server: true, client: true })
    }
    this.pairing = new BlindPairing(this.openSwarm)

    this.startupStep = 'opening the cluster log'
    const cluster = await this.openCluster()
    this.log.info({ writable: cluster.writable, length: cluster.base.length }, 'cluster log open')
    this.runner = new PlacementRunner({ config: this.config, tracker: this.tracker, clock: this.clock })
    this.reconciler = new Reconciler({ selfHex: hexKey(this.id), nextLamport: () => this.requireCluster().lamport.tick() })
    this.hostedService = new HostedService({
      store: this.store as Corestore,
      host: this.host as CloudHost,
      cluster: () => this.requireCluster(),
      snapshot: () => this.snapshot,
      placement: () => this.placement(),
      lastHeardMs: (nodeHex) => this.tracker.lastHeardMs(nodeHex),
      refresh: () => this.refresh(),
      selfId: this.id,
      config: this.config,
      clock: this.clock,
      log: this.log
    })
    if (this.closing !== null) return
    this.joinMembersTopic()
    const onAdmitted = (nodeId: Buffer) => { firewall.admit(nodeId); this.unban(nodeId) }
    this.member = this.pairing.addMember({ discoveryKey: discoveryKey(this.key), onadd: memberHandler(() => this.cluster, this.key, this.clock, this.log, onAdmitted) })
    this.epochs = this.epochKeeper()

    this.startupStep = 'waiting to be admitted as a writer'
    if (!cluster.writable) this.log.info('waiting to be admitted as a writer')
    const asking = this.fleetJoin === null ? null : setInterval(() => this.askFleet(), FLEET_ASK_INTERVAL_MS)
    try {
      await cluster.waitWritable(this.config.pairTimeoutMs)
    } finally {
      if (asking !== null) clearInterval(asking)
      this.fleetJoin = null
    }
    if (this.closing !== null) return
    this.startupStep = 'reading the view'
    // After a crash the view may not hold this node's last ops yet, and a heartbeat seq or lamport
    // taken from it would make the next ops stale: apply the node's own log first. (After a clean
    // stop it holds them; a joiner has none. Waiting there would only slow a fleet's formation.)
    if (this.afterCrash) await cluster.base.update()
    await this.refresh()
    this.startupStep = 'announcing this node'
    this.heartbeatSeq = this.snapshot.byId.get(hexKey(this.id))?.heartbeat?.seq ?? 0
    await this.announce()
    this.startupStep = 'recording invites'
    if (this.founded) this.foundingInvite = await this.createInvite({ ttlMs: this.config.inviteTtlMs, uses: this.config.inviteUses })
    await this.serveFleet()
    this.startupStep = 'replaying what this node carried'
    await this.replayCarried()
    this.startupStep = 'first heartbeat'

    this.watch(cluster)
    const onError = (err: unknown) => { if (this.closing === null) this.log.error({ err }, 'background task failed') }
    this.repeaters.push(
      new Repeater(this.config.heartbeatIntervalMs, () => this.heartbeat(), onError),
      new Repeater(this.config.heartbeatIntervalMs, () => this.epochs?.tick() ?? Promise.resolve(), onError),
      new Repeater(Math.min(1000, this.config.heartbeatIntervalMs), () => this.tick(), onError),
      new Repeater(this.config.discoveryRefreshMs, () => this.refreshDiscovery(), onError),
      new Repeater(this.config.syncProgressIntervalMs, () => this.writeProgress(), onError),
      new Repeater(this.config.diskUsageIntervalMs, async () => { this.diskBytes = await dirBytes(this.config.storage); await this.checkFull() }, onError)
    )
    this.diskBytes = await dirBytes(storage)
    this.sampler.refreshCpu()
    await this.heartbeat()
    await this.refresh()
    for (const r of this.repeaters) r.start()
    this.log.info({ id: this.idText, bevy: formatKey(this.key), epoch: this.epochNumber, url: this.url, founded: this.founded }, 'node ready')
    this.startupStep = null
    // Fleet peers heard while starting may already name a smaller bevy.
    for (const bevy of this.fleet?.peers.values() ?? []) this.considerMerge(bevy)
  }

  /** Closes children in the reverse order of opening; safe on a half-opened node. */
  private async closeChildren (): Promise<void> {
    if (this.fleetFlush !== null) clearTimeout(this.fleetFlush)
    for (const r of this.repeaters.reverse()) await r.stop()
    for (const t of this.pendingPurges) clearTimeout(t)
    this.pendingPurges.clear()
    await this.reconcileRuns.idle()
    await this.hostedRuns.idle()
    await this.refresher.idle()
    if (this.host !== null) await this.host.close()
    if (this.epochs !== null) await this.epochs.close()
    this.pings?.close()
    this.mesh?.leaveAll()
    this.fleet?.close()
    this.deviceDesk.close()
    if (this.member !== null) await this.member.close()
    if (this.pairing !== null) await this.pairing.close()
    if (this.openSwarm !== null) await this.openSwarm.destroy()
    if (this.swarm !== null) await this.swarm.destroy()
    if (this.cluster !== null) await this.cluster.close()
    this.wakeup.destroy()
    if (this.store !== null) await this.store.close()
    if (this.markedRunning) await clearRunningMark(this.config.storage)
  }

  /** Opens this node's bevy: the one in storage, the one an invite leads to, or a new one. */
  private async openCluster (): Promise<ClusterBase> {
    const storage = this.config.storage
    const existing = await readBevyFile(storage)
    if (existing !== null) {
      if (this.config.join !== null) this.log.warn({ bevy: formatKey(existing.key) }, 'storage already belongs to a bevy; ignoring --join')
      this.bevyKey = existing.key
      this.bevyNamespace = existing.namespace
      return this.startCluster(existing.epoch ?? { epoch: 0, key: existing.key, namespace: existing.namespace })
    }
    const namespace = randomBytes(16).toString('hex')
    this.bevyNamespace = namespace
    const fleetBevy = this.config.join === null && this.config.secret !== null ? await this.chooseFleetBevy() : null
    if (this.config.join !== null || fleetBevy !== null) {
      const local = Autobase.getLocalCore(this.namespaceStore(namespace))
      await local.ready()
      const writerKey = local.key
      await local.close()
      this.log.info(fleetBevy === null ? 'pairing with invite' : 'asking the fleet\'s bevy to admit this node')
      // A fleet node has proven the secret to the members already: it asks them over the fleet
      // channel (until it is a writer), instead of pairing, which visits one peer a second.
      if (fleetBevy !== null) this.fleetJoin = { bevy: fleetBevy, request: { writerKey, nodeId: this.id }, asked: 0, acceptedAt: null }
      const key = fleetBevy ?? await pairWithInvite(this.requirePairing(), parseInvite(this.config.join, this.clock.now()), Buffer.concat([writerKey, this.id]), this.config.pairTimeoutMs)
      this.askFleet()
      this.bevyKey = key
      // Meet the members now: the one that admitted us lets us in, and tells which log it writes to.
      this.joinMembersTopic()
      // The member admitted this node to the log it writes to now, which its peers advertise.
      const epoch = await this.advertisedEpoch(key)
      await writeBevyFile(storage, { key, namespace, epoch: { ...epoch, namespace } })
      this.log.info({ bevy: formatKey(key), epoch: epoch.epoch }, 'paired')
      return this.startCluster({ ...epoch, namespace })
    }
    const cluster = await this.startCluster({ epoch: 0, key: null, namespace })
    await cluster.append({ type: OpType.ADD_WRITER, key: cluster.localKey, inviteId: NO_INVITE })
    this.bevyKey = cluster.key
    this.epoch = { epoch: 0, key: cluster.key, namespace }
    await writeBevyFile(storage, { key: cluster.key, namespace })
    this.founded = true
    this.log.info({ bevy: formatKey(cluster.key) }, 'founded a new bevy')
    return cluster
  }

  private async startCluster (epoch: { epoch: number, key: Buffer | null, namespace: string }): Promise<ClusterBase> {
    const cluster = await this.openLog(epoch.namespace, epoch.key)
    this.cluster = cluster
    this.epoch = { epoch: epoch.epoch, key: cluster.key, namespace: epoch.namespace }
    this.pings?.advertise({ epoch: epoch.epoch, key: cluster.key })
    this.mesh = new Mesh(this.requireSwarm(), hexKey(this.id))
    return cluster
  }

  /**
   * Fleet mode, for a node with no bevy yet: the bevy to join (the smallest one a fleet peer is
   * in), or null to found one, when no fleet peer with a smaller key is still without a bevy once
   * the settle time passed (or nobody founded within the pairing timeout).
   */
  private async chooseFleetBevy (): Promise<Buffer | null> {
    const fleet = this.fleet
    const open = this.openSwarm
    if (fleet === null || open === null) return null
    this.log.info('fleet mode: looking for the fleet\'s bevy')
    const selfHex = hexKey(open.keyPair.publicKey)
    const started = Date.now()
    let refreshed = started
    // The fleet is settled once this node's announce is on the DHT, a lookup begun after it has
    // returned, and every peer found is connected. Of two nodes looking at once, at least one
    // looks up after the other announced, so it meets the other; waiting the whole
    // fleetSettleMs is then needless (it stays the bound, for peers that never say their bevy).
    let settledAt: number | null = null
    this.fleetLookupDone(open).then(() => { settledAt = Date.now() }, () => {})
    while (this.closing === null) {
      // Nodes that join a topic at the same moment often miss each other, and Hyperswarm asks
      // the DHT again only every 10 minutes: ask every second while looking.
      if (Date.now() - refreshed >= 1000) {
        refreshed = Date.now()
        this.fleetDiscovery?.refresh().catch(() => {})
      }
      const choice = fleetChoice(selfHex, fleet.peers)
      if (choice.kind === 'join') return choice.bevy
      const waited = Date.now() - started
      // A short grace after the lookup lets a peer that found this node (its connection in flight) say its bevy first.
      const heardAll = settledAt !== null && Date.now() - settledAt >= FLEET_HELLO_GRACE_MS && fleet.unheard === 0
      if (choice.kind === 'found' && (heardAll || waited >= this.config.fleetSettleMs)) return null
      if (waited >= this.config.pairTimeoutMs) return null
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return null
  }

  private async fleetLookupDone (open: Hyperswarm): Promise<void> {
    const discovery = this.fleetDiscovery
    if (discovery === null) return
    await discovery.flushed()
    await discovery.refresh()
    await open.flush()
  }

  /** Fleet mode, while not a writer: asks the next member, unless one has taken the request on lately. */
  private askFleet (): void {
    const join = this.fleetJoin
    if (join === null) return
    if (join.acceptedAt !== null && this.clock.now() - join.acceptedAt < FLEET_ACCEPTED_PATIENCE_MS) return
    if (this.fleet?.requestJoin(join.bevy, join.request, join.asked) === true) join.asked++
  }

  private fleetJoinAccepted (writerKey: Buffer): void {
    const join = this.fleetJoin
    if (join !== null && join.request.writerKey.equals(writerKey)) join.acceptedAt = this.clock.now()
  }

  /**
   * Fleet mode: a peer that proved the secret asks to join this bevy. A member that can admit
   * writers now takes the request on (true: the peer stops asking others) and admits it in the background.
   */
  private async acceptFleetJoiner (request: FleetJoin): Promise<boolean> {
    const cluster = this.cluster
    if (this.config.secret === null || cluster === null || !cluster.writable || this.bevyKey === null || this.startupStep !== null || this.closing !== null) return false
    const tag = hexKey(request.writerKey)
    if (this.fleetAdmitting.has(tag) || this.fleetQueue.has(tag)) return true
    // Let it connect now; its writer is added with the others that ask within the batch window.
    this.firewall?.admit(request.nodeId)
    this.unban(request.nodeId)
    this.fleetQueue.set(tag, request)
    this.fleetFlush ??= setTimeout(() => {
      this.fleetFlush = null
      this.admitFleetJoiners().catch((err) => this.log.warn({ err }, 'admitting fleet nodes failed'))
    }, FLEET_ADMIT_BATCH_MS)
    return true
  }

  /** Fleet mode: admits the queued fleet nodes' writers under the fleet's invite, in one append. */
  private async admitFleetJoiners (): Promise<void> {
    const requests = [...this.fleetQueue.values()]
    this.fleetQueue.clear()
    const secret = this.config.secret
    const cluster = this.cluster
    if (secret === null || cluster === null || this.bevyKey === null || this.closing !== null) return
    const tags = requests.map((request) => hexKey(request.writerKey))
    for (const tag of tags) this.fleetAdmitting.add(tag)
    try {
      const fresh: FleetJoin[] = []
      for (const request of requests) if (await cluster.view.get(ViewKey.writer(request.writerKey)) === null) fresh.push(request)
      const inviteId = fleetInvite(secret, this.bevyKey).id
      await cluster.appendMany(fresh.map((request) => ({ type: OpType.ADD_WRITER, key: request.writerKey, inviteId })))
      for (const request of fresh) this.log.info({ node: formatKey(request.nodeId) }, 'admitted a fleet node')
    } finally {
      for (const tag of tags) this.fleetAdmitting.delete(tag)
    }
  }

  /**
   * Fleet mode, once in a bevy: make sure the view holds the fleet's standing invite for it (the
   * members already answer pairing on the bevy's topic), and tell the fleet which bevy this is.
   */
  private async serveFleet (): Promise<void> {
    const secret = this.config.secret
    if (secret === null) return
    const invite = fleetInvite(secret, this.key)
    const cluster = this.requireCluster()
    if (await cluster.view.get(ViewKey.invite(invite.id)) === null) {
      await cluster.append({ type: OpType.INVITE, inviteId: invite.id, publicKey: invite.publicKey, expiresMs: FLEET_INVITE_EXPIRES_MS, uses: FLEET_INVITE_USES })
      // Tell the fleet only once the invite is in the view: a candidate asks each member once, and
      // a request that finds no invite goes unanswered (then pairing falls back to the slow DHT path).
      await cluster.base.update()
      for (let i = 0; i < 50 && await cluster.view.get(ViewKey.invite(invite.id)) === null; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.fleet?.announce()
  }

  /**
   * Fleet mode: bevies founded at the same moment converge on the smallest key. A node of a
   * larger one asks to move ('merge'); the CLI then saves what to carry, stops the node and
   * starts it again without a bevy, so it pairs into the smaller one and replays what it carried.
   */
  /** Fleet mode: the bevy this node asked to move into ('merge' event), or null. */
  get mergingInto (): Buffer | null {
    return this.mergeTarget
  }

  private considerMerge (bevy: Buffer | null): void {
    if (bevy === null || this.bevyKey === null || this.mergeTarget !== null || this.startupStep !== null || this.closing !== null) return
    if (Buffer.compare(bevy, this.bevyKey) >= 0) return
    this.mergeTarget = bevy
    this.log.warn({ from: formatKey(this.bevyKey), to: formatKey(bevy) }, 'fleet mode: another bevy of this fleet has the smaller key; moving into it')
    this.emit('merge', bevy)
  }

  /** Writes what this node carries into the surviving bevy (clouds, drains), then sets its bevy aside. */
  async prepareMerge (): Promise<void> {
    const carry: CarryFile = {
      from: formatKey(this.key),
      clouds: this.snapshot.clouds.map((c) => ({ key: formatKey(Buffer.from(c.keyHex, 'hex')), replicas: c.replicas })),
      drained: this.snapshot.nodes.filter((n) => n.drained && !isGone(n.record.state)).map((n) => formatKey(n.record.nodeId))
    }
    // A carry not yet replayed (a second move before the first finished) is kept and added to.
    const earlier = await readCarryFile(this.config.storage)
    if (earlier !== null) {
      for (const cloud of earlier.clouds) if (!carry.clouds.some((c) => c.key === cloud.key)) carry.clouds.push(cloud)
      for (const id of earlier.drained) if (!carry.drained.includes(id)) carry.drained.push(id)
    }
    await writeCarryFile(this.config.storage, carry)
    await retireBevyFile(this.config.storage, this.key)
  }

  /** Replays a carry file from a bevy this node moved out of: its clouds and drains, then deletes it. */
  private async replayCarried (): Promise<void> {
    const carry = await readCarryFile(this.config.storage)
    if (carry === null) return
    for (const cloud of carry.clouds) {
      const key = parseKey(cloud.key, 'cloud key')
      if (!this.snapshot.cloudByKey.has(hexKey(key))) await this.addCloud(key, cloud.replicas)
    }
    for (const id of carry.drained) {
      const nodeId = parseKey(id, 'node id')
      const node = this.snapshot.byId.get(hexKey(nodeId))
      if (node !== undefined && !node.drained) await this.setDrained(nodeId, true)
    }
    await removeCarryFile(this.config.storage)
    this.log.info({ from: carry.from, clouds: carry.clouds.length, drained: carry.drained.length }, 'fleet mode: replayed what this node carried from a merged bevy')
  }

  /** Opens (and readies) a log, of this epoch or another, without making it current. */
  private async openLog (namespace: string, key: Buffer | null): Promise<ClusterBase> {
    const cluster = new ClusterBase({ store: this.namespaceStore(namespace), key, wakeup: this.wakeup, maxIndexers: this.config.maxIndexers, writableGraceMs: this.config.writableGraceMs, recomputeTip: this.afterCrash, log: this.log })
    await cluster.ready()
    return cluster
  }

  private watch (cluster: ClusterBase): void {
    cluster.base.on('update', () => { if (this.cluster === cluster) this.refresh().catch((err) => this.log.error({ err }, 'view refresh failed')) })
  }

  private epochKeeper (): EpochKeeper {
    return new EpochKeeper({
      selfId: this.id,
      config: this.config,
      log: this.log,
      now: () => this.clock.now(),
      bevyNamespace: this.bevyNamespace,
      localKeyIn: (namespace) => Autobase.getLocalKey(this.namespaceStore(namespace)),
      openLog: (namespace, key) => this.openLog(namespace, key),
      current: () => ({ cluster: this.requireCluster(), ref: this.requireEpoch() }),
      snapshot: () => this.snapshot,
      isLive: (idHex) => this.tracker.state(idHex, this.clock.now()) === 'live',
      heard: () => this.heardEpoch,
      requestJoin: (request) => this.pings?.requestJoin(request),
      moveTo: (next, ref) => this.moveTo(next, ref),
      abandon: (log) => this.abandon(log),
      onProposed: (epoch) => this.emit('epoch-proposed', epoch)
    })
  }

  /** Makes `next` the log this node writes to, then deletes the old one's cores. */
  private async moveTo (next: ClusterBase, ref: EpochRef): Promise<void> {
    const old = this.requireCluster()
    next.lamport.observe(old.lamport.current)
    this.cluster = next
    this.epoch = ref
    this.watch(next)
    await writeBevyFile(this.config.storage, { key: this.key, namespace: this.bevyNamespace, epoch: ref })
    this.pings?.advertise({ epoch: ref.epoch, key: ref.key })
    this.log.info({ epoch: ref.epoch }, 'moved to a new epoch')
    await this.refresh()
    // Everything the old log and any abandoned proposal wrote or signed goes, except what the new
    // log stands on (a follower's writer key is the same in every proposal of one epoch).
    const keep = new Set((await next.coreKeys()).map(hexKey))
    const writers = new Set([...(await old.writerKeys()).map(hexKey), ...this.abandonedWriters].filter((k) => !keep.has(k)))
    this.abandonedWriters.clear()
    await old.close()
    if (this.coreStorage !== null) await this.purgeCores(await coresOfWriters(this.coreStorage, writers, keep))
  }

  /** Closes a proposal this node gave up on, remembering its writers so the next move deletes it. */
  private async abandon (log: ClusterBase): Promise<void> {
    try {
      for (const key of await log.writerKeys()) this.abandonedWriters.add(hexKey(key))
    } finally {
      await log.close()
    }
  }

  /**
   * Deletes an old epoch's cores from storage and compacts, so their space comes back. Cores the
   * store still holds (peers replicate them) are kept until it lets go: tried again every
   * OLD_CORES_RETRY_MS.
   */
  private async purgeCores (keys: Buffer[]): Promise<void> {
    if (this.coreStorage === null || this.store === null || this.closing !== null || keys.length === 0) return
    const { free, held } = splitHeldCores(this.store, keys)
    const deleted = free.length === 0 ? 0 : await deleteCores(this.coreStorage, free)
    if (deleted > 0) await this.compactStorage?.()
    this.log.info({ cores: deleted, kept: held.length }, 'deleted the old epoch')
    if (held.length === 0) return
    const retry = setTimeout(() => {
      this.pendingPurges.delete(retry)
      this.purgeCores(held).catch((err) => { if (this.closing === null) this.log.warn({ err }, 'deleting old epoch cores failed') })
    }, OLD_CORES_RETRY_MS)
    retry.unref()
    this.pendingPurges.add(retry)
  }

  /** A peer writes to a newer log than this node: the keeper catches up on its next tick. */
  private heardOfEpoch (peerHex: string, advert: EpochAdvert): void {
    const known = this.heardEpoch?.advert.epoch ?? -1
    if (advert.epoch > known) this.heardEpoch = { advert, peerHex }
  }

  /** Admits a member that missed a rotation: add its new key as a writer and bind its node to it. */
  private async admitToEpoch (peerHex: string, request: JoinEpochRequest): Promise<void> {
    const cluster = this.cluster
    if (cluster === null || !cluster.writable || this.closing !== null || request.epoch !== this.epochNumber) return
    const node = this.snapshot.byId.get(peerHex)
    if (node === undefined || node.record.state !== NodeState.ACTIVE) return
    if (node.record.writerKey.equals(request.writerKey)) return
    const tag = `${peerHex}:${hexKey(request.writerKey)}`
    if (this.admitting.has(tag)) return
    this.admitting.add(tag)
    try {
      await cluster.appendMany([
        { type: OpType.ADD_WRITER, key: request.writerKey, inviteId: NO_INVITE },
        { type: OpType.REBIND, nodeId: node.record.nodeId, writerKey: request.writerKey }
      ])
      this.log.info({ node: formatKey(node.record.nodeId), epoch: request.epoch }, 'admitted a member to this epoch')
    } finally {
      this.admitting.delete(tag)
    }
  }

  /** The epoch a freshly paired node's peers write to: the first advert, or epoch 0 if none comes. */
  private async advertisedEpoch (bevyKey: Buffer): Promise<{ epoch: number, key: Buffer }> {
    const deadline = Date.now() + JOIN_ADVERT_WAIT_MS
    while (this.heardEpoch === null && Date.now() < deadline && this.closing === null) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return this.heardEpoch?.advert ?? { epoch: 0, key: bevyKey }
  }

  private requireEpoch (): EpochRef {
    if (this.epoch === null) throw new BevyError(ErrorCode.CLOSED, 'the cluster log is not open')
    return this.epoch
  }

  private namespaceStore (namespace: string): Corestore {
    if (this.store === null) throw new BevyError(ErrorCode.CLOSED, 'store is not open')
    return this.store.namespace('cloud-bevy/' + namespace)
  }

  /** Joins the bevy's topic on the members' swarm, once. */
  private joinMembersTopic (): void {
    if (this.joinedTopic) return
    this.joinedTopic = true
    this.requireSwarm().join(membersTopic(this.key))
  }

  private get peerCount (): number {
    return (this.swarm?.connections.size ?? 0) + (this.openSwarm?.connections.size ?? 0)
  }

  /** Lets a peer the firewall refused earlier try again (Hyperswarm bans a refused key for good). */
  private unban (nodeId: Buffer): void {
    const peer = this.swarm?.peers.get(hexKey(nodeId))
    if (peer?.banned === true) peer.ban(false)
  }

  /** Applies the view's membership to the members' swarm: drops peers no longer let in, unbans members. */
  private enforceMembership (snapshot: ClusterSnapshot): void {
    const swarm = this.swarm
    const firewall = this.firewall
    if (swarm === null || firewall === null) return
    firewall.update(snapshot)
    for (const conn of swarm.connections) {
      if (!firewall.allows(conn.remotePublicKey)) {
        this.log.info({ peer: formatKey(conn.remotePublicKey) }, 'dropping a peer that is not a member')
        conn.destroy()
      }
    }
    for (const node of snapshot.nodes) if (firewall.allows(node.record.nodeId)) this.unban(node.record.nodeId)
  }

  /** Cloud peers and pairing candidates: cores replicate (a peer must know a core's key to read it), nothing else. */
  private onOpenConnection (conn: SwarmConnection): void {
    conn.on('error', (err: Error) => this.log.debug({ err: err.message }, 'connection error'))
    this.store?.replicate(conn)
    this.wakeup.addStream(conn)
    this.fleet?.attach(conn)
    this.deviceDesk.attach(conn)
  }

  private onConnection (conn: SwarmConnection): void {
    conn.on('error', (err: Error) => this.log.debug({ err: err.message }, 'connection error'))
    this.store?.replicate(conn)
    this.wakeup.addStream(conn)
    this.pings?.attach(conn)
    this.log.debug({ peer: formatKey(conn.remotePublicKey) }, 'connected')
  }

  /** Re-reads the view. Calls that arrive while a read runs coalesce into one more read. */
  refresh (): Promise<void> {
    return this.refresher.run()
  }

  private async readView (): Promise<void> {
    const cluster = this.cluster
    if (cluster === null || this.closing !== null) return
    const snapshot = await cluster.snapshot()
    cluster.lamport.observe(snapshot.maxLamport)
    const now = this.clock.now()
    this.tracker.observeAll(snapshot.nodes.map((n) => ({ id: n.idHex, seq: n.heartbeat?.seq ?? 0, clockMs: n.heartbeat?.clockMs })), now)
    // The first read is the state the node starts from, not news.
    if (this.snapshot !== EMPTY_SNAPSHOT) for (const event of viewEvents(this.snapshot, snapshot)) this.events.record(event)
    this.snapshot = snapshot
    this.enforceMembership(snapshot)
    this.mesh?.sync(snapshot)
    this.checkLiveness()
    this.scheduleReconcile()
    this.emit('update', snapshot)
  }

  private scheduleReconcile (): void {
    if (this.runner === null || this.closing !== null) return
    this.reconcileRuns.run().catch((err) => { if (this.closing === null) this.log.error({ err }, 'reconcile failed') })
  }

  private scheduleHostedUpkeep (): void {
    if (this.hostedService === null || this.closing !== null || this.cluster?.writable !== true) return
    this.hostedRuns.run().catch((err) => { if (this.closing === null) this.log.error({ err }, 'hosted cloud upkeep failed') })
  }

  /** Writes to hosted clouds, for the router; null until the node is open. */
  get hostedWrites (): HostedService | null {
    return this.opened && this.closing === null ? this.hostedService : null
  }

  /** Hosted clouds: create, rotate tokens, write, authorize devices. */
  get hosted (): HostedService {
    if (this.hostedService === null || !this.opened || this.closing !== null) throw new BevyError(ErrorCode.NOT_READY, 'node is still joining its bevy')
    return this.hostedService
  }

  /** Opens and purges local copies as placement asks, and records the holdings in the view. */
  private async reconcile (): Promise<void> {
    const { runner, reconciler, cluster, host } = this
    if (runner === null || reconciler === null || cluster === null || host === null || !cluster.writable || this.closing !== null) return
    // After a stop (SIGSTOP, a frozen VM) timers fire before the view is read again; acting on
    // ages from before the stop would let go of replicas that are fine.
    if (this.tracker.stale(this.clock.now())) return
    const actions = reconciler.reconcile(this.snapshot, runner.current(this.snapshot), host)
    for (const cloud of actions.open) host.open(cloud)
    for (const cloud of actions.release) host.release(cloud)
    // Copies opened since the hosted records last changed read the current ones: check only after a change.
    if (this.snapshot.hostedBases !== this.hostedBasesChecked) {
      this.hostedBasesChecked = this.snapshot.hostedBases
      host.reopenMisread()
    }
    this.scheduleHostedUpkeep()
    if (actions.ops.length === 0) return
    // The events come back from the view (viewEvents), as every node sees them.
    await cluster.appendMany(actions.ops)
  }

  /** Writes sync progress for the clouds whose progress moved since the last write. */
  private async writeProgress (): Promise<void> {
    const { cluster, host } = this
    if (cluster === null || host === null || !cluster.writable || this.closing !== null) return
    const ops = host.progressOps(this.id, () => cluster.lamport.tick())
    if (ops.length > 0) await cluster.appendMany(ops)
  }

  /**
   * Tells the bevy whether this node takes new replicas: full when its storage reaches the
   * capacity it offered, the disk runs low or it holds maxCloudsPerNode clouds. Placement then
   * sends new clouds elsewhere and leaves this node the ones it holds, which it keeps serving.
   */
  private async checkFull (): Promise<void> {
    const { cluster, host } = this
    const self = this.snapshot.byId.get(hexKey(this.id))
    if (cluster === null || host === null || self === undefined || !cluster.writable || this.closing !== null) return
    const reason = fullReason({
      diskBytes: this.diskBytes,
      capacityBytes: self.record.capacity,
      freeDiskBytes: await freeDiskBytes(this.config.storage),
      cloudsHeld: [...host.heldClouds()].length,
      wasFull: self.full
    }, this.config)
    const full = reason !== null
    if (full === self.full) return
    await cluster.append({ type: OpType.FULL, lamport: cluster.lamport.tick(), nodeId: this.id, full })
    if (full) this.log.warn({ reason }, 'node full: taking no new replicas, keeping and serving the ones it holds')
    else this.log.info('node has room again: taking new replicas')
    await this.refresh()
  }

  /** Announces url, zone and capacity when the view does not already hold them. */
  private async announce (): Promise<void> {
    const cluster = this.requireCluster()
    const capacity = this.config.capacity ?? await freeDiskBytes(this.config.storage)
    const mine = this.snapshot.byId.get(hexKey(this.id))?.record
    const current = mine !== undefined && mine.state === NodeState.ACTIVE && mine.url === this.url &&
      mine.zone === this.config.zone && mine.capacity === capacity
    if (current) return
    await cluster.append({ type: OpType.ANNOUNCE, lamport: cluster.lamport.tick(), nodeId: this.id, url: this.url, zone: this.config.zone, capacity })
    await this.refresh()
  }

  /**
   * Pings every connected peer with this node's load, and renews its lease in the view when the
   * lease is due or the load moved materially since the last one: at idle that is one write per
   * leaseIntervalMs instead of one per ping, which is what keeps the log (and CPU) small.
   */
  private async heartbeat (): Promise<void> {
    if (this.closing !== null) return
    const load = this.sampler.sample()
    this.lastSample = load
    this.sampler.refreshCpu()
    this.pings?.broadcast(load)
    const cluster = this.cluster
    if (cluster === null || !cluster.writable) return
    const now = this.clock.now()
    const smoothed = smoothLoad(this.smoothedLoad?.load ?? null, load, now - (this.smoothedLoad?.nowMs ?? now), this.config.leaseLoadSmoothingMs)
    this.smoothedLoad = { nowMs: now, load: smoothed }
    const hearing = { allLinked: this.allMembersLinked(now), linkLost: this.leaseLinkLost }
    if (!leaseDue(this.lastLease, this.smoothedLoad, this.config, hearing)) return
    this.lastLease = this.smoothedLoad
    this.leaseLinkLost = false
    await cluster.append({ type: OpType.HEARTBEAT, nodeId: this.id, seq: ++this.heartbeatSeq, clockMs: now, load: smoothed })
  }

  /**
   * Judges liveness and reconciles as time passes, also when the view is quiet. After a pause
   * (SIGSTOP, a frozen VM) the ages it holds are out of date, so it reads the view first.
   */
  private async tick (): Promise<void> {
    const now = this.clock.now()
    if (!this.tracker.awake(now)) return await this.refresh()
    // This node is running: it is its own proof of life (its leases may be an hour apart).
    const self = this.selfHex
    if (self !== null) this.tracker.pinged(self, now)
    this.checkLiveness()
    this.scheduleReconcile()
  }

  /** Whether every member this node does not judge down hears its pings (then no one needs its lease). */
  private allMembersLinked (nowMs: number): boolean {
    const pings = this.pings
    if (pings === null) return false
    const self = this.selfHex
    for (const node of this.snapshot.nodes) {
      if (node.idHex === self || isGone(node.record.state)) continue
      if (!pings.linked(node.idHex) && this.tracker.state(node.idHex, nowMs) !== 'down') return false
    }
    return true
  }

  /** Logs every change of a node's state as this node judges it. */
  private checkLiveness (): void {
    const now = this.clock.now()
    if (this.tracker.stale(now)) return // ages from before a stop say nothing about the others
    for (const node of this.snapshot.nodes) {
      const state = nodeState(node, this.tracker, now)
      const before = this.lastStates.get(node.idHex)
      if (before === state) continue
      this.lastStates.set(node.idHex, state)
      // Left and draining come from the view (viewEvents); a node first seen live is a join.
      if ((before !== undefined || state !== 'live') && (state === 'live' || state === 'suspect' || state === 'down')) {
        this.events.record({ kind: state, node: formatKey(node.record.nodeId), message: `node ${state} (was ${before ?? 'unknown'})` })
      }
      this.emit('node-state', formatKey(node.record.nodeId), state)
    }
  }

  private async refreshDiscovery (): Promise<void> {
    const swarm = this.swarm
    const cluster = this.cluster
    if (swarm === null || cluster === null || this.closing !== null) return
    await swarm.join(membersTopic(this.key)).refresh()
    // Fleet bevies founded apart find each other here, and merge.
    await this.fleetDiscovery?.refresh()
  }

  async createInvite (opts: { ttlMs?: number, uses?: number } = {}): Promise<Invite> {
    const ttlMs = opts.ttlMs ?? this.config.inviteTtlMs
    const uses = opts.uses ?? this.config.inviteUses
    return createInvite(this.requireCluster(), this.key, this.clock, { ttlMs, uses })
  }

  /** Registers a cloud, or changes its replica count. Resolves once the op is in the local log. */
  async addCloud (key: Buffer, replicas: number): Promise<CloudInfo> {
    const cluster = this.requireCluster()
    const existing = this.snapshot.clouds.find((c) => c.keyHex === hexKey(key))
    if (existing?.replicas !== replicas) {
      await cluster.append({ type: OpType.CLOUD_ADD, lamport: cluster.lamport.tick(), key, replicas })
      await this.refresh()
    }
    return this.cloudInfo(key)
  }

  async removeCloud (key: Buffer): Promise<void> {
    const cluster = this.requireCluster()
    this.cloudInfo(key) // throws CLOUD_NOT_FOUND
    await cluster.append({ type: OpType.CLOUD_REMOVE, lamport: cluster.lamport.tick(), key })
    await this.refresh()
  }

  listClouds (): CloudInfo[] {
    const placement = this.placement()
    return this.snapshot.clouds.map((c) => this.describeCloud(c, placement))
  }

  /** A cloud's replica count and its replica set as this node computes it. */
  cloudInfo (key: Buffer): CloudInfo {
    const keyHex = hexKey(key)
    const cloud = this.snapshot.clouds.find((c) => c.keyHex === keyHex)
    if (cloud === undefined) throw new BevyError(ErrorCode.CLOUD_NOT_FOUND, `no cloud ${formatKey(key)} in this bevy`)
    return this.describeCloud(cloud, this.placement())
  }

  private describeCloud (cloud: CloudView, placement: Placement | null): CloudInfo {
    const set = placement?.replicaSet(cloud.keyHex) ?? []
    const progress = this.snapshot.progress.get(cloud.keyHex)
    return {
      key: formatKey(Buffer.from(cloud.keyHex, 'hex')),
      replicas: cloud.replicas,
      hosted: cloud.hosted !== undefined,
      ...(cloud.hosted === undefined ? {} : { base: formatKey(cloud.hosted.base) }),
      placement: set.map((r) => describeReplica(r, this.snapshot.byId.get(r.node)?.record.url ?? null, progress?.get(r.node)))
    }
  }

  /**
   * Where to answer one request for a cloud: the replica chooseReplica picks among the live,
   * synced ones (this node when it holds a synced copy and is not clearly busier). A request
   * that already hopped is served here whenever this node has a synced copy: one more hop would
   * cost more than the load it spreads. So is one that would otherwise be redirected, which can
   * never loop that way (RouteOptions.redirect). Throws CLOUD_NOT_FOUND for an unknown cloud.
   */
  routeCloud (keyHex: string, opts: RouteOptions = {}): CloudRoute {
    const { exclude, hopped = false, redirect = false } = opts
    const local = this.host?.replica(keyHex)
    if ((hopped || redirect) && local?.synced === true && this.snapshot.cloudByKey.has(keyHex)) return { kind: 'local', drive: local.drive, hosted: local instanceof HostedCloud }
    const now = this.clock.now()
    const all = this.replicaSignals(keyHex, now)
    const signals = exclude === undefined ? all : all.filter((r) => !exclude.has(r.node))
    const chosen = chooseReplica(signals, {
      nowMs: now,
      suspectAfterMs: this.config.suspectAfterMs,
      self: this.selfHex,
      inFlightCostPermille: this.config.routeInFlightCostPermille,
      localMarginPermille: this.config.routeLocalMarginPermille
    }, this.rng)
    if (chosen === null) return { kind: 'unavailable' }
    if (chosen.local && local !== undefined) return { kind: 'local', drive: local.drive, hosted: local instanceof HostedCloud }
    return { kind: 'remote', node: this.idTextOf(chosen.node), nodeHex: chosen.node, url: chosen.url }
  }

  /**
   * A cloud's replicas with everything a routing decision weighs, best first, for clients that
   * balance themselves. Throws CLOUD_NOT_FOUND for an unknown cloud.
   */
  rankedReplicas (keyHex: string): RoutedReplica[] {
    const now = this.clock.now()
    return rankReplicas(this.replicaSignals(keyHex, now), {
      nowMs: now, suspectAfterMs: this.config.suspectAfterMs, inFlightCostPermille: this.config.routeInFlightCostPermille
    })
  }

  private replicaSignals (keyHex: string, nowMs: number): RoutedReplica[] {
    if (!this.opened || this.closing !== null) throw new BevyError(ErrorCode.NOT_READY, 'node is still joining its bevy')
    if (!this.snapshot.cloudByKey.has(keyHex)) throw new BevyError(ErrorCode.CLOUD_NOT_FOUND, 'no such cloud in this bevy')
    return replicaSignals(keyHex, {
      placement: this.routingPlacement(),
      snapshot: this.snapshot,
      tracker: this.tracker,
      nowMs,
      selfHex: this.selfHex,
      localSynced: (cloud) => this.host?.replica(cloud)?.synced === true,
      feedback: this.routing,
      direct: this.pings ?? undefined
    })
  }

  /** This node's id in hex once storage is open; routed requests compare against it. */
  private get selfHex (): string | null {
    if (this.nodeId === null) return null
    this.nodeIdHex ??= hexKey(this.nodeId)
    return this.nodeIdHex
  }

  private idTextOf (hex: string): string {
    let text = this.idTexts.get(hex)
    if (text === undefined) {
      if (this.idTexts.size > 10_000) this.idTexts.clear()
      text = formatKey(Buffer.from(hex, 'hex'))
      this.idTexts.set(hex, text)
    }
    return text
  }

  /** Whether `nodeId` (z-base-32) is a node of this bevy, as the view says. */
  isMember (nodeId: string): boolean {
    try {
      return this.snapshot.byId.has(hexKey(parseKey(nodeId, 'node id')))
    } catch {
      return false
    }
  }

  /**
   * Evicts a node for good: its writer is removed, every op it writes later is ignored, members
   * refuse its connections, and placement moves its replicas. A node cannot evict itself.
   */
  async evict (nodeId: Buffer): Promise<void> {
    const cluster = this.requireCluster()
    const node = this.snapshot.byId.get(hexKey(nodeId))
    if (node === undefined) throw new BevyError(ErrorCode.NODE_NOT_FOUND, `no node ${formatKey(nodeId)} in this bevy`)
    if (nodeId.equals(this.id)) throw new BevyError(ErrorCode.BAD_REQUEST, 'a node cannot evict itself; run `bevy leave` on it, or evict it from another node')
    if (node.record.state === NodeState.EVICTED) return
    await cluster.append({ type: OpType.EVICT, lamport: cluster.lamport.tick(), nodeId })
    await this.refresh()
    this.log.warn({ node: formatKey(nodeId) }, 'evicted a node')
  }

  /** Revokes an invite: no member admits anyone with it any more. */
  async revokeInvite (text: string): Promise<void> {
    const inviteId = inviteIdOf(text)
    const cluster = this.requireCluster()
    if (await cluster.view.get(ViewKey.invite(inviteId)) === null) throw new BevyError(ErrorCode.NOT_FOUND, 'this bevy has no such invite')
    if (await cluster.view.get(ViewKey.inviteRevoked(inviteId)) !== null) return
    await cluster.append({ type: OpType.INVITE_REVOKE, inviteId })
  }

  /** Marks a node draining (its replicas move off, make-before-break) or lets it take replicas again. */
  async setDrained (nodeId: Buffer, drained: boolean): Promise<void> {
    const cluster = this.requireCluster()
    if (!this.snapshot.byId.has(hexKey(nodeId))) throw new BevyError(ErrorCode.NODE_NOT_FOUND, `no node ${formatKey(nodeId)} in this bevy`)
    await cluster.append({ type: drained ? OpType.DRAIN : OpType.UNDRAIN, lamport: cluster.lamport.tick(), nodeId })
    await this.refresh()
  }

  /** The current placement, or null before the cluster log is open. */
  placement (): Placement | null {
    return this.runner === null ? null : this.runner.current(this.snapshot)
  }

  /**
   * The placement as the request path sees it: recomputed when the view changes, else at most
   * every ROUTE_PLACEMENT_TTL_MS, since checking every node's liveness costs O(nodes) and a
   * request should not. Liveness changes reach routing that much later, against seconds of
   * suspectAfterMs.
   */
  private routingPlacement (): Placement | null {
    const now = this.clock.now()
    const cached = this.routeCache
    if (cached !== null && cached.snapshot === this.snapshot && now - cached.atMs < ROUTE_PLACEMENT_TTL_MS) return cached.placement
    const placement = this.placement()
    this.routeCache = { snapshot: this.snapshot, atMs: now, placement }
    return placement
  }

  /** Clouds this node still has a part in: placed here (as target or handoff) or with a local copy not yet let go. */
  replicasHeld (): number {
    const self = this.selfHex
    if (self === null || this.host === null) return 0
    const clouds = new Set(this.placement()?.cloudsOf(self) ?? [])
    for (const cloud of this.host.heldClouds()) clouds.add(cloud)
    return clouds.size
  }

  /**
   * Takes this node out of the bevy for good: writes its leave op once it holds no replica (drain
   * it and wait for the handoff first), then emits 'left' so the process stops. A later start
   * with the same storage announces it again.
   */
  async leave (): Promise<void> {
    const cluster = this.requireCluster()
    const held = this.replicasHeld()
    if (held > 0) throw new BevyError(ErrorCode.STILL_HOLDING, `this node still holds ${held} replica${held === 1 ? '' : 's'}; drain it and wait for the handoff (\`bevy leave\` does both)`)
    await cluster.append({ type: OpType.LEAVE, lamport: cluster.lamport.tick(), nodeId: this.id })
    await this.refresh()
    // The leave must reach another node before this one stops, or nobody hears of it.
    if (!await cluster.waitReplicated(LEAVE_REPLICATION_TIMEOUT_MS)) {
      this.log.warn('no peer confirmed the leave op yet; it goes out when this node next runs')
    }
    this.emit('left')
  }

  /** Clouds with fewer synced target replicas on live nodes than they ask for. */
  underReplicatedClouds (): number {
    const placement = this.placement()
    const now = this.clock.now()
    let count = 0
    for (const cloud of this.snapshot.clouds) {
      const set = placement?.replicaSet(cloud.keyHex) ?? []
      const good = set.filter((r) => r.role === 'target' && r.synced && this.tracker.state(r.node, now) === 'live').length
      if (good < cloud.replicas) count++
    }
    return count
  }

  /** Figures for /metrics that the status report does not carry. */
  gauges (): { viewLength: number, logLength: number, diskBytes: number, syncBytes: number } {
    const base = this.cluster?.base
    return {
      viewLength: base?.view.core.length ?? 0,
      logLength: base?.length ?? 0,
      diskBytes: this.diskBytes,
      syncBytes: this.host?.downloadedBytes ?? 0
    }
  }

  status (): StatusReport {
    const placement = this.placement()
    const nowMs = this.clock.now()
    return buildStatus({
      cloudsOf: (idHex) => placement?.cloudsOf(idHex).length ?? 0,
      snapshot: this.snapshot,
      tracker: this.tracker,
      nowMs,
      self: { id: this.idText, url: this.url, zone: this.config.zone, diskBytes: this.diskBytes, replicasHeld: this.replicasHeld() },
      bevy: this.key,
      freshLoad: (idHex) => idHex === this.selfHex ? this.lastSample : this.pings?.evidence(idHex, nowMs)?.load ?? null
    })
  }

  private requireCluster (): ClusterBase {
    if (this.cluster === null) throw new BevyError(ErrorCode.CLOSED, 'the cluster log is not open')
    return this.cluster
  }

  private requireSwarm (): Hyperswarm {
    if (this.swarm === null) throw new BevyError(ErrorCode.CLOSED, 'the swarm is not open')
    return this.swarm
  }

  private requirePairing (): BlindPairing {
    if (this.pairing === null) throw new BevyError(ErrorCode.CLOSED, 'pairing is not open')
    return this.pairing
  }
}

function describeReplica (r: Replica, url: string | null, progress: ProgressRecord | undefined): ReplicaInfo {
  const bytes = { had: progress?.bytesHad ?? 0, total: progress?.bytesTotal ?? 0 }
  const blocks = { had: progress?.blocksHad ?? 0, total: progress?.blocksTotal ?? 0 }
  const state: ReplicaState = blocks.total === 0 ? 'waiting' : blocks.had === blocks.total ? 'synced' : 'syncing'
  return {
    node: formatKey(Buffer.from(r.node, 'hex')),
    url,
    role: r.role,
    synced: r.synced,
    progress: bytes.total > 0 ? bytes.had / bytes.total : r.synced ? 1 : 0,
    state,
    version: progress?.version ?? 0,
    blocks,
    bytes,
    peers: progress?.peers ?? 0
  }
}
