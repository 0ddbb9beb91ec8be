// Reads the cluster view into a plain snapshot that placement, liveness and the API consume.
import {
  decodeRecord, drainRecordCodec, heartbeatRecordCodec, hexKey, nodeRecordCodec, prefixEnd, ViewKey,
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

export interface ClusterSnapshot {
  /** Nodes in id order, so iteration is the same on every machine. */
  nodes: NodeView[]
  byId: Map<string, NodeView>
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
  return { nodes, byId }
}

function scan (store: ViewStore, prefix: string) {
  return store.range(prefix, prefixEnd(prefix))
}
