// Fast liveness and load between connected nodes, over one protomux channel per swarm connection
// (protocol/ping.ts). Nothing here reaches the view. Pings are the fast proof of life between
// leases (onPing feeds the node's liveness tracker), the router trusts a replica whose pings are
// fresh even when the view lags behind (a loaded machine), and stops choosing one whose connection
// just closed.
import Protomux, { type Channel } from 'protomux'
import type { SwarmConnection } from 'hyperswarm'
import { classify, LivenessTracker, type Liveness, type LivenessParams } from '../placement/index.js'
import { epochAdvertCodec, hexKey, joinEpochCodec, pingCodec, type EpochAdvert, type JoinEpochRequest, type Load, type Ping, PING_PROTOCOL } from '../protocol/index.js'

export interface PeerPingsOptions {
  liveness: LivenessParams
  now: () => number
  /** The last open connection to a peer closed: the router may stop choosing it at once. */
  onLost: (peerHex: string) => void
  /** A peer pinged: direct proof that it is alive now. */
  onPing?: (peerHex: string) => void
  /** A peer said which log it writes to. */
  onEpoch?: (peerHex: string, advert: EpochAdvert) => void
  /** A peer asked to be admitted to an epoch it missed. */
  onJoinEpoch?: (peerHex: string, request: JoinEpochRequest) => void
}

interface Link {
  channel: Channel
  send: (ping: Ping) => void
  advertise: (advert: EpochAdvert) => void
  requestJoin: (request: JoinEpochRequest) => void
}

export class PeerPings {
  private readonly tracker: LivenessTracker
  private readonly loads = new Map<string, Load>()
  private readonly links = new Map<string, Set<Link>>()
  private seq = 0
  private closed = false
  private epoch: EpochAdvert | null = null

  constructor (private readonly opts: PeerPingsOptions) {
    this.tracker = new LivenessTracker(opts.liveness)
  }

  /** Opens the ping channel on a new connection; call after the store's replication attached. */
  attach (conn: SwarmConnection): void {
    if (this.closed) return
    const peerHex = hexKey(conn.remotePublicKey)
    const link = {} as Link
    const channel = Protomux.from(conn).createChannel({
      protocol: PING_PROTOCOL,
      onopen: () => { if (this.epoch !== null && !this.closed) link.advertise(this.epoch) },
      onclose: () => this.detach(peerHex, link)
    })
    if (channel === null) return // this connection has one already
    // Message order is the wire numbering (PingMessage): append only.
    const message = channel.addMessage({ encoding: pingCodec, onmessage: (ping) => this.received(peerHex, ping) })
    const epochMessage = channel.addMessage({ encoding: epochAdvertCodec, onmessage: (advert) => { if (!this.closed) this.opts.onEpoch?.(peerHex, advert) } })
    const joinMessage = channel.addMessage({ encoding: joinEpochCodec, onmessage: (request) => { if (!this.closed) this.opts.onJoinEpoch?.(peerHex, request) } })
    link.channel = channel
    link.send = (ping) => { message.send(ping) }
    link.advertise = (advert) => { epochMessage.send(advert) }
    link.requestJoin = (request) => { joinMessage.send(request) }
    let peerLinks = this.links.get(peerHex)
    if (peerLinks === undefined) {
      peerLinks = new Set()
      this.links.set(peerHex, peerLinks)
    }
    peerLinks.add(link)
    // A new connection may come from a restarted process counting its pings from 1 again.
    this.tracker.forget(peerHex)
    channel.open()
  }

  /** Tells every connected peer (and every later one) which log this node writes to. */
  advertise (advert: EpochAdvert): void {
    this.epoch = advert
    this.each((link) => link.advertise(advert))
  }

  /** Asks every connected peer to admit this node to an epoch it missed. */
  requestJoin (request: JoinEpochRequest): void {
    this.each((link) => link.requestJoin(request))
  }

  private each (send: (link: Link) => void): void {
    if (this.closed) return
    for (const peerLinks of this.links.values()) {
      for (const link of peerLinks) if (link.channel.opened) send(link)
    }
  }

  /** Sends this node's load to every connected peer. */
  broadcast (load: Load): void {
    if (this.closed) return
    const ping = { seq: ++this.seq, load }
    this.each((link) => link.send(ping))
  }

  /** A peer's liveness judged by its pings alone, or null when it is not connected or has not pinged yet. */
  state (peerHex: string, nowMs: number): Liveness | null {
    if (!this.links.has(peerHex)) return null
    const age = this.tracker.ageMs(peerHex, nowMs)
    return age === null ? null : classify(age, this.opts.liveness)
  }

  /** For the request path: the peer's liveness by its pings, and the load it last pinged. */
  evidence (peerHex: string, nowMs: number): { liveness: Liveness, load: Load } | null {
    const liveness = this.state(peerHex, nowMs)
    const load = this.loads.get(peerHex)
    return liveness === null || load === undefined ? null : { liveness, load }
  }

  /** Whether `peerHex` has an open ping channel with this node. */
  linked (peerHex: string): boolean {
    return this.links.has(peerHex)
  }

  /** Peers with an open ping channel. */
  get connectedPeers (): number {
    return this.links.size
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    for (const peerLinks of this.links.values()) {
      for (const link of peerLinks) link.channel.close()
    }
    this.links.clear()
    this.loads.clear()
  }

  private received (peerHex: string, ping: Ping): void {
    if (this.closed) return
    this.tracker.observe(peerHex, ping.seq, this.opts.now())
    this.loads.set(peerHex, ping.load)
    this.opts.onPing?.(peerHex)
  }

  private detach (peerHex: string, link: Link): void {
    const peerLinks = this.links.get(peerHex)
    if (peerLinks === undefined || !peerLinks.delete(link) || peerLinks.size > 0) return
    this.links.delete(peerHex)
    this.loads.delete(peerHex)
    this.tracker.forget(peerHex)
    if (!this.closed) this.opts.onLost(peerHex)
  }
}
