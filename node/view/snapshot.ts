// Reads the cluster view into a plain snapshot that placement, liveness and the API consume.
import {
  cloudRecordCodec, decodeRecord, drainRecordCodec, holdRecordCodec, heartbeatRecordCodec, hexKey, nodeRecordCodec, prefixEnd, ViewKey,
  writerRecordCodec, type HeartbeatRecord, type NodeRecord
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
  /** Hex cloud key → hex node id → whether that node's copy is synced, for nodes holding it. */
  holdings: Map<string, Map<string, { synced: boolean }>>
}

export async function readSnapshot (store: ViewStore): Promise<ClusterSnapshot> {
  const nodes: NodeView[] = []
  const byId = new Map<string, NodeView>()
  for await (const { value } of scan(store, ViewKey.nodePrefix)) {
    const record = decodeRecord(nodeRecordCodec, value)
    const view: NodeView = { idHex: hexKey(record.nodeId), record, drained: false, heartbeat: null, indexer: false }
    nodes.push(view)
    byId.set(view.idHex, view)
  }
  for await (const { key, value } of scan(store, ViewKey.drainPrefix)) {
    const node = byId.get(key.slice(ViewKey.drainPrefix.length))
    if (node !== undefined) node.drained = decodeRecord(drainRecordCodec, value).drained
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
    const record = decodeRecord(cloudRecordCodec, value)
    if (!record.removed) clouds.push({ keyHex: key.slice(ViewKey.cloudPrefix.length), replicas: record.replicas })
  }
  const holdings = new Map<string, Map<string, { synced: boolean }>>()
  for await (const { key, value } of scan(store, ViewKey.holdPrefix)) {
    const record = decodeRecord(holdRecordCodec, value)
    if (!record.held) continue
    const [cloud, node] = key.slice(ViewKey.holdPrefix.length).split('/') as [string, string]
    let perNode = holdings.get(cloud)
    if (perNode === undefined) holdings.set(cloud, perNode = new Map())
    perNode.set(node, { synced: record.synced })
  }
  return { nodes, byId, clouds, holdings }
}

function scan (store: ViewStore, prefix: string) {
  return store.range(prefix, prefixEnd(prefix))
}
