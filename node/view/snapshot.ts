// Reads the cluster view into a plain snapshot that placement, liveness and the API consume.
// Snapshots are immutable. refreshSnapshot re-reads only the sections whose keys changed and
// shares the rest with the previous snapshot, so a heartbeat does not re-decode 100k clouds and
// code that compares sections by identity (placement's caches) sees what really changed.
import {
  cloudRecordCodec, decodeRecord, drainRecordCodec, fullRecordCodec, holdRecordCodec, heartbeatRecordCodec, hexKey, nodeRecordCodec, prefixEnd,
  progressRecordCodec, ViewKey, writerRecordCodec, hostedRecordCodec, cloudWriterRecordCodec, deviceRecordCodec, type HeartbeatRecord, type HoldRecord, type NodeRecord, type ProgressRecord
} from '../../protocol/index.js'
import { OverlayMap } from './overlay-map.js'
import type { ViewStore } from './view-store.js'

export interface NodeView {
  /** Hex node id, the map key used everywhere inside the process. */
  idHex: string
  record: NodeRecord
  drained: boolean
  /** The node takes no new replicas (its disk or cloud cap is reached); it keeps what it holds. */
  full: boolean
  heartbeat: HeartbeatRecord | null
  indexer: boolean
}

export interface CloudView {
  /** Hex cloud key. */
  keyHex: string
  replicas: number
  /** Set for a hosted (multi-writer) cloud; absent for an owner-held one. */
  hosted?: HostedView
}

export interface HostedView {
  /** The cloud's own Autobase key. */
  base: Buffer
  /** SHA-256 of the cloud's write token. */
  tokenHash: Buffer
  /** Hex node id → the writer key that node announced for the cloud. */
  writers: Map<string, Buffer>
  /** Owner devices (hex writer keys) an operator authorized to write. */
  devices: Set<string>
}

export interface ClusterSnapshot {
  /** Nodes in id order, so iteration is the same on every machine. */
  nodes: NodeView[]
  byId: Map<string, NodeView>
  /** Registered clouds that are not removed, in key order. */
  clouds: CloudView[]
  cloudByKey: Map<string, CloudView>
  /** Hex cloud key → Autobase key of every hosted cloud ever registered, removed ones too (their copies must still be found to purge them). */
  hostedBases: ReadonlyMap<string, Buffer>
  /** Hex cloud key → hex node id → whether that node's copy is synced, for nodes holding it. */
  holdings: ReadonlyMap<string, Map<string, { synced: boolean }>>
  /** Hex node id → the clouds it holds (the same records as `holdings`, indexed by node). */
  heldBy: Map<string, Set<string>>
  /** Hex cloud key → hex node id → the sync progress that node last reported. */
  progress: Map<string, Map<string, ProgressRecord>>
  /** The highest lamport stamp in the view, so a restarted node's clock starts ahead of its old ops. */
  maxLamport: number
}

export const EMPTY_SNAPSHOT: ClusterSnapshot = Object.freeze({
  nodes: [], byId: new Map(), clouds: [], cloudByKey: new Map(), hostedBases: new Map(), holdings: new Map(), heldBy: new Map(), progress: new Map(), maxLamport: 0
})


export async function readSnapshot (store: ViewStore): Promise<ClusterSnapshot> {
  const lamport = { max: 0 }
  const nodes = await readNodes(store, lamport)
  const clouds = await readClouds(store, lamport)
  return {
    ...nodes,
    ...clouds,
    ...await readHoldings(store, lamport, { clouds: clouds.cloudByKey, nodes: nodes.byId }),
    progress: await readProgress(store, lamport),
    maxLamport: lamport.max
  }
}

/** A snapshot of the view after the keys in `changed` were written; `prev` was the view before. */
export async function refreshSnapshot (prev: ClusterSnapshot, store: ViewStore, changed: Iterable<string>): Promise<ClusterSnapshot> {
  let nodesChanged = false
  let cloudsChanged = false
  let progressChanged = false
  const holds: string[] = []
  const heartbeats: string[] = []
  for (const key of changed) {
    if (key.startsWith(ViewKey.holdPrefix)) holds.push(key)
    else if (key.startsWith(ViewKey.heartbeatPrefix)) heartbeats.push(key)
    else if (key.startsWith(ViewKey.cloudPrefix) || key.startsWith(ViewKey.hostedPrefix) || key.startsWith(ViewKey.cloudWriterPrefix) || key.startsWith(ViewKey.cloudDevicePrefix)) cloudsChanged = true
    else if (key.startsWith(ViewKey.progressPrefix)) progressChanged = true
    else if (key.startsWith(ViewKey.nodePrefix) || key.startsWith(ViewKey.drainPrefix) || key.startsWith(ViewKey.fullPrefix) || key.startsWith(ViewKey.writerPrefix)) nodesChanged = true
  }
  if (!nodesChanged && !cloudsChanged && !progressChanged && holds.length === 0 && heartbeats.length === 0) return prev
  const lamport = { max: prev.maxLamport }
  const nodes = nodesChanged ? await readNodes(store, lamport) : heartbeats.length > 0 ? await patchHeartbeats(prev, store, heartbeats) : { nodes: prev.nodes, byId: prev.byId }
  const clouds = cloudsChanged ? await readClouds(store, lamport) : { clouds: prev.clouds, cloudByKey: prev.cloudByKey, hostedBases: prev.hostedBases }
  return {
    ...nodes,
    ...clouds,
    ...(holds.length > 0 ? await patchHoldings(prev, store, holds, lamport, { clouds: clouds.cloudByKey, nodes: nodes.byId }) : { holdings: prev.holdings, heldBy: prev.heldBy }),
    progress: progressChanged ? await readProgress(store, lamport) : prev.progress,
    maxLamport: lamport.max
  }
}

interface LamportMax { max: number }

/**
 * The snapshot's own strings for cloud keys and node ids. Holdings keyed by them are found by
 * identity, where a key cut out of a view key would be compared character by character on every
 * lookup (reconcile and placement look holdings up per cloud).
 */
interface Names { clouds: ReadonlyMap<string, CloudView>, nodes: ReadonlyMap<string, NodeView> }

function namesOf (names: Names, [cloud, node]: [string, string]): [string, string] {
  return [names.clouds.get(cloud)?.keyHex ?? cloud, names.nodes.get(node)?.idHex ?? node]
}

function stamped<T extends { lamport: number }> (lamport: LamportMax, record: T): T {
  if (record.lamport > lamport.max) lamport.max = record.lamport
  return record
}

async function readNodes (store: ViewStore, lamport: LamportMax): Promise<Pick<ClusterSnapshot, 'nodes' | 'byId'>> {
  const nodes: NodeView[] = []
  const byId = new Map<string, NodeView>()
  for await (const { value } of scan(store, ViewKey.nodePrefix)) {
    const record = stamped(lamport, decodeRecord(nodeRecordCodec, value))
    const view: NodeView = { idHex: hexKey(record.nodeId), record, drained: false, full: false, heartbeat: null, indexer: false }
    nodes.push(view)
    byId.set(view.idHex, view)
  }
  for await (const { key, value } of scan(store, ViewKey.drainPrefix)) {
    const node = byId.get(key.slice(ViewKey.drainPrefix.length))
    const drain = stamped(lamport, decodeRecord(drainRecordCodec, value))
    if (node !== undefined) node.drained = drain.drained
  }
  for await (const { key, value } of scan(store, ViewKey.fullPrefix)) {
    const node = byId.get(key.slice(ViewKey.fullPrefix.length))
    const full = stamped(lamport, decodeRecord(fullRecordCodec, value))
    if (node !== undefined) node.full = full.full
  }
  for await (const { key, value } of scan(store, ViewKey.heartbeatPrefix)) {
    const node = byId.get(key.slice(ViewKey.heartbeatPrefix.length))
    if (node !== undefined) node.heartbeat = decodeRecord(heartbeatRecordCodec, value)
  }
  const indexerWriters = new Set<string>()
  for await (const { key, value } of scan(store, ViewKey.writerPrefix)) {
    if (decodeRecord(writerRecordCodec, value).indexer) indexerWriters.add(key.slice(ViewKey.writerPrefix.length))
  }
  for (const node of nodes) node.indexer = indexerWriters.has(hexKey(node.record.writerKey))
  return { nodes, byId }
}

/** Only heartbeats changed (most refreshes): new views for those nodes, the others shared. */
async function patchHeartbeats (prev: ClusterSnapshot, store: ViewStore, keys: string[]): Promise<Pick<ClusterSnapshot, 'nodes' | 'byId'>> {
  const byId = new Map(prev.byId)
  let patched = false
  for (const key of keys) {
    const node = byId.get(key.slice(ViewKey.heartbeatPrefix.length))
    const bytes = await store.get(key)
    if (node === undefined || bytes === null) continue
    byId.set(node.idHex, { ...node, heartbeat: decodeRecord(heartbeatRecordCodec, bytes) })
    patched = true
  }
  if (!patched) return { nodes: prev.nodes, byId: prev.byId }
  return { nodes: prev.nodes.map((n) => byId.get(n.idHex) as NodeView), byId }
}

async function readClouds (store: ViewStore, lamport: LamportMax): Promise<Pick<ClusterSnapshot, 'clouds' | 'cloudByKey' | 'hostedBases'>> {
  const clouds: CloudView[] = []
  for await (const { key, value } of scan(store, ViewKey.cloudPrefix)) {
    const record = stamped(lamport, decodeRecord(cloudRecordCodec, value))
    if (!record.removed) clouds.push({ keyHex: key.slice(ViewKey.cloudPrefix.length), replicas: record.replicas })
  }
  const cloudByKey = new Map(clouds.map((c) => [c.keyHex, c]))
  const hostedBases = new Map<string, Buffer>()
  for await (const { key, value } of scan(store, ViewKey.hostedPrefix)) {
    const record = stamped(lamport, decodeRecord(hostedRecordCodec, value))
    const keyHex = key.slice(ViewKey.hostedPrefix.length)
    hostedBases.set(keyHex, record.base)
    const cloud = cloudByKey.get(keyHex)
    if (cloud !== undefined) cloud.hosted = { base: record.base, tokenHash: record.tokenHash, writers: new Map(), devices: new Set() }
  }
  for await (const { key, value } of scan(store, ViewKey.cloudWriterPrefix)) {
    const record = stamped(lamport, decodeRecord(cloudWriterRecordCodec, value))
    const [cloud, node] = splitSuffix(key, ViewKey.cloudWriterPrefix)
    cloudByKey.get(cloud)?.hosted?.writers.set(node, record.writerKey)
  }
  for await (const { key, value } of scan(store, ViewKey.cloudDevicePrefix)) {
    const record = stamped(lamport, decodeRecord(deviceRecordCodec, value))
    const [cloud, device] = splitSuffix(key, ViewKey.cloudDevicePrefix)
    if (record.authorized) cloudByKey.get(cloud)?.hosted?.devices.add(device)
  }
  return { clouds, cloudByKey, hostedBases }
}

async function readHoldings (store: ViewStore, lamport: LamportMax, names: Names): Promise<Pick<ClusterSnapshot, 'holdings' | 'heldBy'>> {
  const holdings = new Map<string, Map<string, { synced: boolean }>>()
  const heldBy = new Map<string, Set<string>>()
  for await (const { key, value } of scan(store, ViewKey.holdPrefix)) {
    const record = stamped(lamport, decodeRecord(holdRecordCodec, value))
    if (!record.held) continue
    const [cloud, node] = namesOf(names, splitSuffix(key, ViewKey.holdPrefix))
    perCloud(holdings, cloud, node, { synced: record.synced })
    let clouds = heldBy.get(node)
    if (clouds === undefined) heldBy.set(node, clouds = new Set())
    clouds.add(cloud)
  }
  return { holdings, heldBy }
}

/**
 * Copy-on-write: only the clouds and nodes named by `keys` get new inner maps, and the 100k-cloud
 * outer map is not copied either: the new one is the old one with these clouds changed on top.
 */
async function patchHoldings (prev: ClusterSnapshot, store: ViewStore, keys: string[], lamport: LamportMax, names: Names): Promise<Pick<ClusterSnapshot, 'holdings' | 'heldBy'>> {
  const records: Array<[cloud: string, node: string, record: HoldRecord | null]> = []
  for (const key of keys) {
    const [cloud, node] = namesOf(names, splitSuffix(key, ViewKey.holdPrefix))
    const bytes = await store.get(key)
    records.push([cloud, node, bytes === null ? null : stamped(lamport, decodeRecord(holdRecordCodec, bytes))])
  }
  const heldBy = new Map(prev.heldBy)
  const copiedNodes = new Set<string>()
  const holdings = OverlayMap.of(prev.holdings).with((draft) => {
    const copiedClouds = new Set<string>()
    for (const [cloud, node, record] of records) {
      if (!copiedClouds.has(cloud)) {
        copiedClouds.add(cloud)
        draft.set(cloud, new Map(draft.get(cloud)))
      }
      const perNode = draft.get(cloud) as Map<string, { synced: boolean }>
      const held = record !== null && record.held
      if (held) perNode.set(node, { synced: record.synced })
      else perNode.delete(node)
      // A node's cloud set is copied only when it gains or loses a cloud, not for a sync report.
      if (held === (heldBy.get(node)?.has(cloud) ?? false)) continue
      if (!copiedNodes.has(node)) {
        copiedNodes.add(node)
        heldBy.set(node, new Set(heldBy.get(node)))
      }
      const clouds = heldBy.get(node) as Set<string>
      if (held) clouds.add(cloud)
      else clouds.delete(cloud)
    }
    // Empty entries would make a patched snapshot differ from a fresh read of the same view.
    for (const cloud of copiedClouds) if (draft.get(cloud)?.size === 0) draft.delete(cloud)
  })
  for (const node of copiedNodes) if (heldBy.get(node)?.size === 0) heldBy.delete(node)
  return { holdings, heldBy }
}

async function readProgress (store: ViewStore, lamport: LamportMax): Promise<ClusterSnapshot['progress']> {
  const progress = new Map<string, Map<string, ProgressRecord>>()
  for await (const { key, value } of scan(store, ViewKey.progressPrefix)) {
    const [cloud, node] = splitSuffix(key, ViewKey.progressPrefix)
    perCloud(progress, cloud, node, stamped(lamport, decodeRecord(progressRecordCodec, value)))
  }
  return progress
}

/** `<prefix><cloud>/<node>` → [cloud, node]. */
function splitSuffix (key: string, prefix: string): [string, string] {
  return key.slice(prefix.length).split('/') as [string, string]
}

function perCloud<T> (map: Map<string, Map<string, T>>, cloud: string, node: string, value: T): void {
  let perNode = map.get(cloud)
  if (perNode === undefined) map.set(cloud, perNode = new Map())
  perNode.set(node, value)
}

function scan (store: ViewStore, prefix: string) {
  return store.range(prefix, prefixEnd(prefix))
}
