// Every tunable of a node, with its default, its unit in the name and the tradeoff it sets.
// Each one is settable on `bevy start` by a kebab-case flag and a BEVY_ upper-snake-case
// environment variable (heartbeatIntervalMs: --heartbeat-interval-ms, BEVY_HEARTBEAT_INTERVAL_MS).
import { homedir } from 'node:os'
import { join } from 'node:path'
import { BevyError, ErrorCode } from '../protocol/index.js'

export interface Tunable {
  default: number
  /** One line on what raising or lowering it trades. */
  doc: string
  min: number
  max: number
}

/** Numeric tunables. Durations end in Ms, sizes in Bytes. */
export const TUNABLES = {
  replicas: {
    default: 3, min: 1, max: 16,
    doc: 'Replicas kept of every cloud. More survives more failures and spreads reads; each costs a full copy of the cloud on disk.'
  },
  heartbeatIntervalMs: {
    default: 2000, min: 50, max: 600_000,
    doc: 'How often a node pings its connected peers with its load (nothing is stored). Shorter detects failures sooner and keeps load fresher, at a little more CPU and traffic.'
  },
  leaseIntervalMs: {
    default: 300_000, min: 50, max: 3_600_000,
    doc: 'How often a node renews its lease (heartbeat) in the shared view while some member it judges alive is not connected to it (a partial mesh) and its load holds steady; connected peers learn liveness and load from pings every heartbeatIntervalMs. Every lease costs every node ~30 ms of CPU (10 nodes at 30 s: ~1 % of a core each), so longer costs less disk and CPU; the nodes that are not connected judge it by the view, allowing this much more before suspect or down. A value below heartbeatIntervalMs acts as heartbeatIntervalMs.'
  },
  leaseLoadDeltaPermille: {
    default: 100, min: 0, max: 1000,
    doc: 'Change of the smoothed load (CPU, memory or event loop, in permille) that renews the lease early, so the view\'s loads stay useful to nodes that are not connected. Lower keeps them fresher at more writes under changing load.'
  },
  leaseMeshIntervalMs: {
    default: 3_600_000, min: 50, max: 86_400_000,
    doc: 'How often a node renews its lease while every member it judges alive is connected to it and hears its pings, so nobody needs the lease to know it lives (a lost connection renews it at once). Longer costs less at idle; the view\'s heartbeat records (what a node that starts later sees first) are then older. At least leaseIntervalMs.'
  },
  leaseLoadMinIntervalMs: {
    default: 60_000, min: 0, max: 3_600_000,
    doc: 'Shortest time between two leases when only the load moved: a load that keeps changing renews at most this often. Shorter keeps the view\'s loads fresher; each early lease costs as much as a regular one.'
  },
  leaseLoadSmoothingMs: {
    default: 10_000, min: 0, max: 600_000,
    doc: 'Time constant of the load average that the lease carries and compares. Longer ignores longer bursts (fewer early leases on a noisy machine); shorter shows a real change in the view sooner. Pings always carry the latest sample.'
  },
  suspectAfterMs: {
    default: 5000, min: 100, max: 3_600_000,
    doc: 'Heartbeat age after which the router avoids a node. Lower reacts faster to a dead node; too low flags nodes that are only slow.'
  },
  downAfterMs: {
    default: 15_000, min: 200, max: 86_400_000,
    doc: 'Heartbeat age after which placement replaces a node\'s replicas. Lower heals sooner; too low moves data for a node that merely paused.'
  },
  rejoinStableMs: {
    default: 30_000, min: 0, max: 86_400_000,
    doc: 'How long a node back from down must stay live before it takes replicas again. Longer damps flapping; shorter uses a recovered node sooner.'
  },
  loadEpsilonPermille: {
    default: 100, min: 0, max: 10_000,
    doc: 'Load bound ε in permille: no node holds more than ⌈(1+ε)·its fair share⌉ of replicas. Smaller balances tighter but moves more data when nodes come and go (0.05: 1.6x the optimal moves at scale; 0.1: ~1.06x).'
  },
  maxIndexers: {
    default: 3, min: 1, max: 9,
    doc: 'Writers that also index (sign) the cluster log. Odd, so a majority exists: 3 survives one loss, 5 survives two, at more signing traffic.'
  },
  pairTimeoutMs: {
    default: 60_000, min: 1000, max: 3_600_000,
    doc: 'How long `start --join` waits to pair and become writable before giving up. Longer tolerates a slow DHT; shorter fails fast on a dead invite.'
  },
  writableGraceMs: {
    default: 10_000, min: 0, max: 600_000,
    doc: 'How long a write waits when a node that was a writer briefly is not (Autobase drops its local writer while it reboots the view after an indexer change). Longer rides out such reboots; shorter fails a write sooner with NOT_WRITABLE.'
  },
  maxHostedFileBytes: {
    default: 1024 * 1024 * 1024, min: 0, max: Number.MAX_SAFE_INTEGER,
    doc: 'Largest file a client may PUT into a hosted cloud. Larger allows bigger files; smaller bounds what one request can make every replica store.'
  },
  hostedAckTimeoutMs: {
    default: 10_000, min: 100, max: 600_000,
    doc: 'How long a write to a hosted cloud waits for a second replica to hold it before answering 503 WRITE_NOT_CONFIRMED. Longer rides out a slow peer; shorter tells a client sooner that its write is not yet safe.'
  },
  signedWriteSkewMs: {
    default: 300_000, min: 1000, max: 86_400_000,
    doc: 'How far an owner device\'s signed HTTP write may be from this node\'s clock. Longer tolerates badly set device clocks; shorter limits how long a captured request can be replayed.'
  },
  discoveryRefreshMs: {
    default: 60_000, min: 1000, max: 3_600_000,
    doc: 'How often a node re-announces and re-queries the bevy topic. Hyperswarm alone re-queries only every 10 minutes; shorter heals a split mesh sooner at a little DHT traffic.'
  },
  inviteTtlMs: {
    default: 24 * 3600_000, min: 1000, max: 365 * 24 * 3600_000,
    doc: 'Default lifetime of a new invite. Shorter limits the damage of a leaked invite.'
  },
  inviteUses: {
    default: 1, min: 1, max: 10_000,
    doc: 'Default number of nodes one invite admits. One is safest; more eases adding many machines.'
  },
  fleetSettleMs: {
    default: 1500, min: 0, max: 600_000,
    doc: 'Fleet mode: the longest a node with no bevy listens for fleet peers before it founds one (only if no peer with a smaller key is still looking). It founds sooner once its DHT lookup has settled and every fleet peer it found has said its bevy. Longer makes concurrent founders (then a merge, a restart of the larger bevy\'s nodes) rarer on a slow DHT; shorter forms the bevy sooner.'
  },
  admittedPeerTtlMs: {
    default: 120_000, min: 1000, max: 3_600_000,
    doc: 'How long a node a member just admitted by invite may connect before the view names it. Longer tolerates a slow joiner; shorter closes the door sooner on one that never announces.'
  },
  maxCloudsPerNode: {
    default: 100_000, min: 1, max: 10_000_000,
    doc: 'Most clouds one node holds; at the cap it reports itself full and takes no new replicas (it keeps serving its own). Lower bounds memory and open files per node; the bevy then needs more nodes for as many clouds.'
  },
  minFreeDiskBytes: {
    default: 64 * 1024 * 1024, min: 0, max: 1024 ** 5,
    doc: 'Free disk below which a node reports itself full, whatever --capacity says. Higher keeps more room for the clouds it holds to grow; lower uses the disk more fully.'
  },
  fullResumeMarginPermille: {
    default: 50, min: 0, max: 500,
    doc: 'How far below a limit (disk, free space, clouds) a full node must get before it takes new replicas again. Wider stops a node at the line from flipping; narrower uses the space sooner.'
  },
  maxPeers: {
    default: 64, min: 2, max: 10_000,
    doc: 'Most connections each of a node\'s two swarms (members; cloud peers and pairing) keeps. More serves more cloud peers at once; each connection costs memory and keep-alive traffic.'
  },
  storageWriteBufferBytes: {
    default: 4 * 1024 * 1024, min: 256 * 1024, max: 256 * 1024 * 1024,
    doc: 'RocksDB memtable size of the node\'s store. It bounds RAM and the write-ahead log preallocated on disk (about 1.1x this); smaller flushes to disk more often. The library default, 64 MiB, costs ~70 MB of disk and up to twice that in RAM.'
  },
  syncProgressIntervalMs: {
    default: 2000, min: 50, max: 600_000,
    doc: 'Least time between two sync-progress records a node writes for one cloud. Shorter shows progress more smoothly; every record costs a cluster-log entry on every node.'
  },
  diskUsageIntervalMs: {
    default: 10_000, min: 100, max: 3_600_000,
    doc: 'How often a node measures the disk its storage uses. Shorter reports sooner; each measurement walks the storage directory.'
  },
  routeInFlightCostPermille: {
    default: 50, min: 0, max: 1000,
    doc: 'Load one request in flight from this node adds to a replica when choosing where to send the next. Higher spreads a burst sooner; lower trusts the heartbeat load more.'
  },
  routeLocalMarginPermille: {
    default: 200, min: 0, max: 1000,
    doc: 'How much busier (in permille load) than the best other replica this node may be and still serve a cloud it holds itself rather than proxy the request there (a request it would redirect it always serves, so clients never bounce between replicas). Higher saves hops; lower balances harder.'
  },
  proxyTimeoutMs: {
    default: 30_000, min: 100, max: 3_600_000,
    doc: 'How long a proxied request may wait on a silent replica before the client gets 504. Shorter fails fast; too short cuts off slow but healthy replicas.'
  },
  shutdownGraceMs: {
    default: 10_000, min: 0, max: 600_000,
    doc: 'How long a graceful stop waits for in-flight requests before closing them.'
  },
  sessionTtlMs: {
    default: 12 * 3600_000, min: 60_000, max: 30 * 24 * 3600_000,
    doc: 'How long a dashboard sign-in lasts. Longer signs in less often; shorter limits a stolen session cookie.'
  },
  dashboardRefreshMs: {
    default: 2000, min: 100, max: 60_000,
    doc: 'Longest time between two dashboard updates when nothing changed (heartbeat ages still move). Shorter looks livelier at a little CPU per open page.'
  },
  startupReportIntervalMs: {
    default: 10_000, min: 100, max: 600_000,
    doc: 'How often a node that is still starting logs what it waits on (step, peers, view). Shorter says more on a slow start; it costs one log line each time.'
  },
  recentEventsKept: {
    default: 200, min: 1, max: 100_000,
    doc: 'Events (joins, downs, moves, handoffs) a node keeps in memory for the dashboard. More history costs a little memory.'
  },
  epochMaxViewBlocks: {
    default: 20_000, min: 0, max: 100_000_000,
    doc: 'View length (blocks) after which the cluster log moves to a fresh epoch that starts from the durable state alone; 0 never rotates. Lower bounds disk tighter (≈2.5 KB per block per node, two epochs at most) at a rotation more often.'
  },
  epochSeedTimeoutMs: {
    default: 60_000, min: 1000, max: 86_400_000,
    doc: 'How long nodes wait for a proposed epoch\'s seed while its proposer is down before another node proposes again. Shorter recovers sooner from a proposer that died mid-rotation; too short races a slow one.'
  },
  authFailureBurst: {
    default: 20, min: 1, max: 1_000_000,
    doc: 'Failed admin sign-ins (a wrong token or session) one client address may make per authFailureWindowMs; after that it gets 429 without its token being checked. Hosted clouds\' write tokens and device signatures have a separate budget of the same size. Lower slows guessing and log noise; too low locks out an operator behind the same NAT who mistypes.'
  },
  authFailureWindowMs: {
    default: 60_000, min: 1000, max: 86_400_000,
    doc: 'The window authFailureBurst counts failures in, from an address\'s first failure; a limited address waits until it ends. Longer slows guessing further; a locked-out operator waits longer too.'
  },
  maxUrlBytes: {
    default: 8192, min: 256, max: 1_048_576,
    doc: 'Longest request URL (path and query) answered; longer gets 414. Cloud paths need at most ~4 KiB; higher admits longer query strings, lower refuses oversized input sooner.'
  },
  maxHeaderBytes: {
    default: 16 * 1024, min: 1024, max: 1_048_576,
    doc: 'Largest request head (request line and headers) the HTTP parser accepts; larger gets 431. Higher admits big cookies and long URLs; every open connection may buffer this much.'
  },
  headersTimeoutMs: {
    default: 20_000, min: 1000, max: 600_000,
    doc: 'How long a client may take to send a request\'s headers (checked every few seconds), against slowloris. Shorter frees trickling connections sooner; too short cuts off clients on very slow links. At most requestTimeoutMs.'
  },
  requestTimeoutMs: {
    default: 30_000, min: 1000, max: 3_600_000,
    doc: 'How long a client may take to send a whole request, body included; then 408. Shorter frees slow uploads sooner; too short breaks large proxied uploads on slow links.'
  },
  keepAliveTimeoutMs: {
    default: 72_000, min: 1000, max: 600_000,
    doc: 'How long an idle keep-alive connection stays open for its next request. Longer saves handshakes and must exceed any load balancer\'s idle timeout in front; shorter frees sockets from idle clients sooner.'
  },
  idleSocketTimeoutMs: {
    default: 120_000, min: 1000, max: 86_400_000,
    doc: 'A connection on which nothing moves either way for this long is closed (a client that stops reading a download). Must exceed proxyTimeoutMs; shorter frees stalled sockets sooner.'
  },
  maxProxiedRequests: {
    default: 1024, min: 1, max: 1_000_000,
    doc: 'Proxied requests, pinned connections and WebSocket relays in flight at once; more get 503 OVERLOADED with Retry-After. Higher absorbs bigger bursts in proxy mode; each costs two sockets and buffers, so too high lets a flood exhaust memory or file descriptors.'
  }
} satisfies Record<string, Tunable>

export type TunableName = keyof typeof TUNABLES
export type Tunables = { [K in TunableName]: number }

export const ROUTE_MODES = ['redirect', 'proxy'] as const
export type RouteMode = typeof ROUTE_MODES[number]
/** What a node does when an owner's device asks to write to a hosted cloud: keep it for an operator, or authorize it. */
export const DEVICE_REQUEST_POLICIES = ['ask', 'open'] as const
export type DeviceRequestPolicy = typeof DEVICE_REQUEST_POLICIES[number]

export interface BootstrapNode { host: string, port: number }

export interface NodeConfig extends Tunables {
  storage: string
  port: number
  host: string
  /** The URL other nodes and clients use to reach this one; derived from host and port when null. */
  publicUrl: string | null
  /** Private DHT bootstrap nodes; null means the public DHT. */
  bootstrap: BootstrapNode[] | null
  join: string | null
  secret: string | null
  zone: string
  /** Bytes offered for replicas; null means the free disk at start. */
  capacity: number | null
  route: RouteMode
  /** 'ask' keeps device requests for `bevy cloud approve`; 'open' authorizes every device that asks (trusted networks only). */
  deviceRequests: DeviceRequestPolicy
  logLevel: string
  logPretty: boolean
}

export const DEFAULT_STORAGE = join(homedir(), '.cloud-bevy')
export const DEFAULT_PORT = 7420
export const DEFAULT_HOST = '0.0.0.0'
export const DEFAULT_ZONE = 'default'

export function defaultTunables (): Tunables {
  const out = {} as Tunables
  for (const name of Object.keys(TUNABLES) as TunableName[]) out[name] = TUNABLES[name].default
  return out
}

export function defaultConfig (overrides: Partial<NodeConfig> = {}): NodeConfig {
  return validateConfig({
    ...defaultTunables(),
    storage: DEFAULT_STORAGE,
    port: DEFAULT_PORT,
    host: DEFAULT_HOST,
    publicUrl: null,
    bootstrap: null,
    join: null,
    secret: null,
    zone: DEFAULT_ZONE,
    capacity: null,
    route: 'redirect',
    deviceRequests: 'ask',
    logLevel: 'info',
    logPretty: false,
    ...overrides
  })
}

/** kebab-case flag for a camelCase setting. */
export function flagName (name: string): string {
  return name.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())
}

/** BEVY_UPPER_SNAKE environment variable for a camelCase setting. */
export function envName (name: string): string {
  return 'BEVY_' + flagName(name).replace(/-/g, '_').toUpperCase()
}

export function parseIntSetting (name: string, raw: unknown, min: number, max: number): number {
  const text = String(raw).trim()
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new BevyError(ErrorCode.BAD_CONFIG, `--${flagName(name)} must be a whole number from ${min} to ${max}, got "${text}"`)
  }
  return value
}

export function parseBootstrap (raw: string): BootstrapNode[] {
  const nodes = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((entry) => {
    const at = entry.lastIndexOf(':')
    const host = at > 0 ? entry.slice(0, at) : ''
    const port = Number(entry.slice(at + 1))
    if (host.length === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new BevyError(ErrorCode.BAD_CONFIG, `--bootstrap takes HOST:PORT[,HOST:PORT…], got "${entry}"`)
    }
    return { host, port }
  })
  if (nodes.length === 0) throw new BevyError(ErrorCode.BAD_CONFIG, '--bootstrap is empty')
  return nodes
}

export function validateConfig (config: NodeConfig): NodeConfig {
  if (config.suspectAfterMs <= config.heartbeatIntervalMs) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--suspect-after-ms must be longer than --heartbeat-interval-ms')
  }
  if (config.downAfterMs <= config.suspectAfterMs) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--down-after-ms must be longer than --suspect-after-ms')
  }
  if (config.maxIndexers % 2 === 0) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--max-indexers must be odd so that a majority exists')
  }
  if (config.zone.length === 0 || Buffer.byteLength(config.zone) > 64) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--zone must be 1 to 64 bytes')
  }
  if (config.publicUrl !== null) {
    let url: URL | null = null
    try { url = new URL(config.publicUrl) } catch {}
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new BevyError(ErrorCode.BAD_CONFIG, `--public-url must be an http(s) URL, got "${config.publicUrl}"`)
    }
  }
  if (!ROUTE_MODES.includes(config.route)) {
    throw new BevyError(ErrorCode.BAD_CONFIG, `--route must be redirect or proxy, got "${config.route}"`)
  }
  if (!DEVICE_REQUEST_POLICIES.includes(config.deviceRequests)) {
    throw new BevyError(ErrorCode.BAD_CONFIG, `--device-requests must be ask or open, got "${config.deviceRequests}"`)
  }
  // Node's HTTP server refuses to start with headersTimeout > requestTimeout.
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--headers-timeout-ms must be at most --request-timeout-ms')
  }
  if (config.idleSocketTimeoutMs <= config.proxyTimeoutMs) {
    throw new BevyError(ErrorCode.BAD_CONFIG, '--idle-socket-timeout-ms must be longer than --proxy-timeout-ms, or waiting on a slow replica closes the client')
  }
  return config
}
