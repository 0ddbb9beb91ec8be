// Reads the cluster view into a plain snapshot that placement, liveness and the API consume.
import {
  cloudRecordCodec, decodeRecord, drainRecordCodec, holdRecordCodec, heartbeatRecordCodec, hexKey, nodeRecordCodec, prefixEnd,
  progressRecordCodec, ViewKey, writerRecordCodec, type HeartbeatRecord, type NodeRecord, type ProgressRecord
} from '../../protocol/index.js'
import type { ViewStore } from './view-store.js'

export interface NodeView {
  /** Hex node id, the map key used everywhere inside the process. */
  idHex: string
  record: NodeRecord
  drained: boolean
  heartbeat: HeartbeatRecord | null
  indexer: boolean
}

export interface CloudView {
  /** Hex cloud key. */
  keyHex: string
  replicas: number
}

export interface ClusterSnapshot {
  /** Nodes in id order, so iteration is the same on every machine. */
  nodes: NodeView[]
  byId: Map<string, NodeView>
  /** Registered clouds that are not removed, in key order. */
  clouds: CloudView[]
  cloudByKey: Map<string, CloudView>
  /** Hex cloud key → hex node id → whether that node's copy is synced, for nodes holding it. */
  holdings: Map<string, Map<string, { synced: boolean }>>
  /** Hex cloud key → hex node id → the sync progress that node last reported. */
  progress: Map<string, Map<string, ProgressRecord>>
  /** The highest lamport stamp in the view, so a restarted node's clock starts ahead of its old ops. */
  maxLamport: number
}

export async function readSnapshot (store: ViewStore): Promise<ClusterSnapshot> {
  const nodes: NodeView[] = []
  const byId = new Map<string, NodeView>()
  let maxLamport = 0
  const stamped = <T extends { lamport: number }>(record: T): T => {
    if (record.lamport > maxLamport) maxLamport = record.lamport
    return record
  }
  for await (const { value } of scan(store, ViewKey.nodePrefix)) {
    const record = stamped(decodeRecord(nodeRecordCodec, value))
    const view: NodeView = { idHex: hexKey(record.nodeId), record, drained: false, heartbeat: null, indexer: false }
    nodes.push(view)
    byId.set(view.idHex, view)
  }
  for await (const { key, value } of scan(store, ViewKey.drainPrefix)) {
    const node = byId.get(key.slice(ViewKey.drainPrefix.length))
    const drain = stamped(decodeRecord(drainRecordCodec, value))
    if (node !== undefined) node.drained = drain.drained
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
  const clouds: CloudView[] = []
  for await (const { key, value } of scan(store, ViewKey.cloudPrefix)) {
    const record = stamped(decodeRecord(cloudRecordCodec, value))
    if (!record.removed) clouds.push({ keyHex: key.slice(ViewKey.cloudPrefix.length), replicas: record.replicas })
  }
  const holdings = new Map<string, Map<string, { synced: boolean }>>()
  for await (const { key, value } of scan(store, ViewKey.holdPrefix)) {
    const record = stamped(decodeRecord(holdRecordCodec, value))
    if (record.held) perCloud(holdings, key.slice(ViewKey.holdPrefix.length), { synced: record.synced })
  }
  const progress = new Map<string, Map<string, ProgressRecord>>()
  for await (const { key, value } of scan(store, ViewKey.progressPrefix)) {
    perCloud(progress, key.slice(ViewKey.progressPrefix.length), stamped(decodeRecord(progressRecordCodec, value)))
  }
  return { nodes, byId, clouds, cloudByKey: new Map(clouds.map((c) => [c.keyHex, c])), holdings, progress, maxLamport }
}

/** Files `value` under cloud then node, from a `<cloud>/<node>` key suffix. */
function perCloud<T> (map: Map<string, Map<string, T>>, suffix: string, value: T): void {
  const [cloud, node] = suffix.split('/') as [string, string]
  let perNode = map.get(cloud)
  if (perNode === undefined) map.set(cloud, perNode = new Map())
  perNode.set(node, value)
}

function scan (store: ViewStore, prefix: string) {
  return store.range(prefix, prefixEnd(prefix))
}
