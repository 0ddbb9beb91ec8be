// Epoch rotation of the cluster log, so a node's disk stays bounded whatever its uptime
// (docs/bounded-storage.md). Autobase logs only grow, so now and then the bevy moves to a fresh
// Autobase that starts from the durable state alone:
//   1. Every node names, in the current log, the writer key it will use in the next epoch.
//   2. Once the view passes epochMaxViewBlocks, the chooser (the live active node with the
//      smallest id, as this node judges) opens a new log, admits every named key, seeds it with
//      the durable records and proposes it in the current log. The first proposal stands.
//   3. Every node opens the proposed log and moves over once the seed is there and it may write;
//      then it closes the old log and deletes its cores.
// A proposer that dies before anyone could read its seed is replaced: after epochSeedTimeoutMs
// with no seed while the proposer is down, the chooser proposes again, naming the lost proposal.
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import {
  decodeRecord, formatKey, hexKey, NodeState, OpType, proposalRecordCodec, ViewKey, nextWriterRecordCodec,
  type EpochAdvert, type JoinEpochRequest, type ProposalRecord
} from '../protocol/index.js'
import type { ClusterBase } from './cluster-base.js'
import { planSeed } from './epoch-seed.js'
import type { ClusterSnapshot } from './view/snapshot.js'
import { currentEpoch } from './view/apply.js'

/** Which log a node writes to: the epoch's number, its Autobase key and the local namespace it lives in. */
export interface EpochRef { epoch: number, key: Buffer, namespace: string }

/** Ops per append while seeding, so a large seed goes out in several blocks, not one huge batch. */
const SEED_OPS_PER_APPEND = 16

export interface EpochKeeperDeps {
  selfId: Buffer
  config: { epochMaxViewBlocks: number, epochSeedTimeoutMs: number }
  log: Logger
  now: () => number
  /** The namespace every epoch's namespace derives from. */
  bevyNamespace: string
  /** The writer key this node will have in a log opened in `namespace`. */
  localKeyIn: (namespace: string) => Promise<Buffer>
  /** Opens (and readies) a log without making it current. */
  openLog: (namespace: string, key: Buffer | null) => Promise<ClusterBase>
  /** The log this node writes to now. */
  current: () => { cluster: ClusterBase, ref: EpochRef }
  snapshot: () => ClusterSnapshot
  isLive: (idHex: string) => boolean
  /** The newest log a peer said it writes to, if any. */
  heard: () => { advert: EpochAdvert } | null
  /** Asks connected peers to admit this node's key to an epoch it was not seeded into. */
  requestJoin: (request: JoinEpochRequest) => void
  /** Called once this node's proposal is in the current log (tests crash a proposer here). */
  onProposed?: (epoch: number) => void
  /** Makes `next` the current log; the keeper has handed it over and forgets it. */
  moveTo: (next: ClusterBase, ref: EpochRef) => Promise<void>
  /** Closes a log this node gave up on (a proposal that lost); its cores go with the next move. */
  abandon: (log: ClusterBase) => Promise<void>
}

interface Pending { cluster: ClusterBase, ref: EpochRef, proposer: Buffer | null, sinceMs: number }

/** A log to move to: a proposal in the current view (with its proposer), or one a peer advertised. */
interface Target { epoch: number, key: Buffer, proposer: Buffer | null }

export class EpochKeeper {
  private pending: Pending | null = null
  /** `epoch:log key` for which this node's next-writer record is in place, so it is asked for once. */
  private named: string | null = null
  private closed = false

  constructor (private readonly deps: EpochKeeperDeps) {}

  /** One step: name the next key, propose when due, follow a proposal. Call every heartbeat. */
  async tick (): Promise<void> {
    if (this.closed) return
    const { cluster, ref } = this.deps.current()
    if (!cluster.writable) return
    // A peer already writes to a newer log (this node was away): go straight there.
    const heard = this.deps.heard()
    if (heard !== null && heard.advert.epoch > ref.epoch) return this.follow(cluster, ref, { ...heard.advert, proposer: null })
    await this.nameNextWriter(cluster, ref.epoch + 1)
    const proposal = await readProposal(cluster)
    if (proposal !== null && proposal.epoch === ref.epoch + 1) return this.follow(cluster, ref, proposal)
    const max = this.deps.config.epochMaxViewBlocks
    if (max > 0 && cluster.base.view.core.length >= max && this.isChooser()) await this.propose(cluster, ref, null)
  }

  /** A log this node opened for a proposal it has not moved to yet. */
  get pendingLog (): ClusterBase | null {
    return this.pending?.cluster ?? null
  }

  async close (): Promise<void> {
    this.closed = true
    const pending = this.pending
    this.pending = null
    if (pending !== null) await pending.cluster.close()
  }

  /** The namespace a node that follows a proposal opens epoch `epoch` in. */
  followerNamespace (epoch: number): string {
    return `${this.deps.bevyNamespace}/e${epoch}`
  }

  private async nameNextWriter (cluster: ClusterBase, epoch: number): Promise<void> {
    // Once per epoch: finding the key opens a core, which a heartbeat-rate tick should not do.
    const tag = `${epoch}:${hexKey(cluster.key)}`
    if (this.named === tag) return
    const key = await this.deps.localKeyIn(this.followerNamespace(epoch))
    const bytes = await cluster.view.get(ViewKey.nextWriter(this.deps.selfId))
    const recorded = bytes === null ? null : decodeRecord(nextWriterRecordCodec, bytes)
    if (recorded === null || recorded.epoch !== epoch || !recorded.writerKey.equals(key)) {
      await cluster.append({ type: OpType.NEXT_WRITER, nodeId: this.deps.selfId, epoch, writerKey: key })
    }
    this.named = tag
  }

  private isChooser (): boolean {
    const self = hexKey(this.deps.selfId)
    let chooser: string | null = null
    for (const node of this.deps.snapshot().nodes) {
      if (node.record.state !== NodeState.ACTIVE || !this.deps.isLive(node.idHex)) continue
      if (chooser === null || node.idHex < chooser) chooser = node.idHex
    }
    return chooser === self
  }

  private async follow (cluster: ClusterBase, ref: EpochRef, proposal: Target): Promise<void> {
    if (this.pending === null || !this.pending.ref.key.equals(proposal.key)) {
      await this.dropPending()
      const namespace = this.followerNamespace(proposal.epoch)
      const next = await this.deps.openLog(namespace, proposal.key)
      if (this.closed) return next.close()
      this.pending = { cluster: next, ref: { epoch: proposal.epoch, key: proposal.key, namespace }, proposer: proposal.proposer, sinceMs: this.deps.now() }
      this.deps.log.info({ epoch: proposal.epoch, log: formatKey(proposal.key) }, 'following a new epoch')
    }
    const pending = this.pending
    const seeded = await currentEpoch(pending.cluster.view) === pending.ref.epoch
    if (seeded && pending.cluster.writable) {
      this.pending = null
      this.deps.log.info({ epoch: pending.ref.epoch, log: formatKey(pending.ref.key) }, 'moving to the new epoch')
      await this.deps.moveTo(pending.cluster, pending.ref)
      return
    }
    // Seeded without this node's key (it named none in time, or missed a rotation): ask to be let in.
    if (seeded) return this.deps.requestJoin({ epoch: pending.ref.epoch, writerKey: pending.cluster.localKey })
    const waitedMs = this.deps.now() - pending.sinceMs
    if (proposal.proposer !== null && waitedMs >= this.deps.config.epochSeedTimeoutMs && !this.deps.isLive(hexKey(proposal.proposer)) && this.isChooser()) {
      this.deps.log.warn({ epoch: proposal.epoch, lost: formatKey(proposal.key), waitedMs }, 'the proposed epoch never arrived; proposing again')
      await this.propose(cluster, ref, proposal.key)
    }
  }

  /** Opens, admits and seeds a new log, then proposes it in the current one. */
  private async propose (cluster: ClusterBase, ref: EpochRef, replaces: Buffer | null): Promise<void> {
    const epoch = ref.epoch + 1
    // A namespace of its own: the follower namespace's writer key is the one this node named.
    const namespace = `${this.deps.bevyNamespace}/e${epoch}-${randomBytes(4).toString('hex')}`
    const next = await this.deps.openLog(namespace, null)
    try {
      const plan = await planSeed(cluster.view, { epoch, selfId: this.deps.selfId, bootstrapKey: next.localKey })
      await next.appendMany(plan.writers)
      for (let i = 0; i < plan.seeds.length; i += SEED_OPS_PER_APPEND) await next.appendMany(plan.seeds.slice(i, i + SEED_OPS_PER_APPEND))
      await cluster.append({ type: OpType.EPOCH_PROPOSE, nodeId: this.deps.selfId, epoch, key: next.key, replaces: replaces ?? Buffer.alloc(32) })
      this.deps.log.info({ epoch, log: formatKey(next.key), writers: plan.writers.length, seedOps: plan.seeds.length, viewLength: cluster.base.view.core.length }, 'proposed a new epoch')
    } catch (err) {
      await next.close()
      throw err
    }
    await this.dropPending()
    this.pending = { cluster: next, ref: { epoch, key: next.key, namespace }, proposer: this.deps.selfId, sinceMs: this.deps.now() }
    this.deps.onProposed?.(epoch)
  }

  private async dropPending (): Promise<void> {
    const pending = this.pending
    this.pending = null
    if (pending !== null) await this.deps.abandon(pending.cluster)
  }
}

async function readProposal (cluster: ClusterBase): Promise<ProposalRecord | null> {
  const bytes = await cluster.view.get(ViewKey.proposal)
  return bytes === null ? null : decodeRecord(proposalRecordCodec, bytes)
}
