// Fleet mode: machines that share a secret find each other with no per-node step. Everything is
// derived from the secret: the topic fleet nodes meet on (over the open swarm), and per bevy a
// standing invite recorded in the view. On every open-swarm connection that speaks this protocol,
// each side proves it knows the secret, bound to both connection keys so a proof cannot be
// replayed to another peer; only then does it say which bevy it belongs to, and a node without
// one asks to be admitted. A peer with another secret learns nothing and is dropped.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import BlindPairing from 'blind-pairing'
import Protomux, { type Channel } from 'protomux'
import type { SwarmConnection } from 'hyperswarm'
import { hexKey, key32, struct } from '../protocol/index.js'

export const FLEET_PROTOCOL = 'cloud-bevy/fleet/v1'
/** An invite that never expires in practice, and admits a whole fleet. */
export const FLEET_INVITE_EXPIRES_MS = 2 ** 52
export const FLEET_INVITE_USES = 1_000_000
const NO_BEVY = Buffer.alloc(32)

function derive (secret: string, purpose: string, ...parts: Buffer[]): Buffer {
  const hash = createHash('sha256').update('cloud-bevy/fleet/').update(purpose).update('\0').update(secret)
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** The topic every node with this secret joins to find the others. */
export function fleetTopic (secret: string): Buffer {
  return derive(secret, 'topic')
}

export interface FleetInvite { id: Buffer, publicKey: Buffer }

/**
 * The standing invite of one bevy of this fleet, as the view records it: fleet nodes are admitted
 * under it (so its uses count them and revoking it stops them), and only secret holders can make it.
 */
export function fleetInvite (secret: string, bevyKey: Buffer): FleetInvite {
  const created = BlindPairing.createInvite(bevyKey, { seed: derive(secret, 'invite-seed', bevyKey) })
  return { id: created.id, publicKey: created.publicKey }
}

function proof (secret: string, from: Buffer, to: Buffer): Buffer {
  return createHmac('sha256', derive(secret, 'proof')).update(from).update(to).digest()
}

/** A fleet node asks a member of the bevy it chose to admit its writer; the proven secret is its invite. */
export interface FleetJoin { writerKey: Buffer, nodeId: Buffer }
const fleetJoinCodec = struct<FleetJoin>({ writerKey: key32, nodeId: key32 })

export interface FleetLinksOptions {
  secret: string
  /** This node's open-swarm public key. */
  localKey: Buffer
  /** The bevy this node belongs to now, or null while it has none. */
  bevy: () => Buffer | null
  /** A peer proved the secret and said which bevy it is in (null: none yet). */
  onPeer: (peerHex: string, bevy: Buffer | null) => void
  /**
   * A peer that proved the secret asks this node to admit it to this node's bevy. Resolves true
   * once this node has taken the request on (the peer is told, and stops asking), false if it can't.
   */
  onJoin: (peerHex: string, request: FleetJoin) => Promise<boolean>
  /** A member this node asked to admit it has taken the request on for this writer key. */
  onAccepted: (peerHex: string, writerKey: Buffer) => void
}

interface Link { peerHex: string, channel: Channel, verified: boolean, sendBevy: (key: Buffer) => void, sendJoin: (request: FleetJoin) => void }

/** The fleet channel on every open-swarm connection. */
export class FleetLinks {
  private readonly links = new Set<Link>()
  /** Fleet peers by open-swarm key (hex): the bevy each last said it is in. */
  readonly peers = new Map<string, Buffer | null>()
  private closed = false

  constructor (private readonly opts: FleetLinksOptions) {}

  attach (conn: SwarmConnection): void {
    if (this.closed) return
    const remote = conn.remotePublicKey
    const peerHex = hexKey(remote)
    const link = { peerHex, verified: false } as Link
    const channel = Protomux.from(conn).createChannel({
      protocol: FLEET_PROTOCOL,
      onopen: () => proofMessage.send(proof(this.opts.secret, this.opts.localKey, remote)),
      onclose: () => { this.links.delete(link); if (![...this.links].some((l) => l.verified && l !== link)) this.peers.delete(peerHex) }
    })
    if (channel === null) return
    // Wire numbering: append only.
    const proofMessage = channel.addMessage({
      encoding: key32,
      onmessage: (presented: Buffer) => {
        const expected = proof(this.opts.secret, remote, this.opts.localKey)
        if (!timingSafeEqual(presented, expected)) {
          conn.destroy() // another secret (or none): it learns nothing more
          return
        }
        link.verified = true
        link.sendBevy(this.opts.bevy() ?? NO_BEVY)
      }
    })
    const bevyMessage = channel.addMessage({
      encoding: key32,
      onmessage: (key: Buffer) => {
        if (!link.verified || this.closed) return
        const bevy = key.equals(NO_BEVY) ? null : Buffer.from(key)
        this.peers.set(peerHex, bevy)
        this.opts.onPeer(peerHex, bevy)
      }
    })
    const joinMessage = channel.addMessage({
      encoding: fleetJoinCodec,
      onmessage: (request: FleetJoin) => {
        if (!link.verified || this.closed) return
        this.opts.onJoin(peerHex, request).then((accepted) => {
          if (accepted && !this.closed && channel.opened) acceptedMessage.send(request.writerKey)
        }, () => {})
      }
    })
    // A member took on a join request: the joiner stops asking others, which would each append
    // the same writer again (every member's view replays every such duplicate).
    const acceptedMessage = channel.addMessage({
      encoding: key32,
      onmessage: (writerKey: Buffer) => { if (link.verified && !this.closed) this.opts.onAccepted(peerHex, Buffer.from(writerKey)) }
    })
    link.channel = channel
    link.sendBevy = (key) => { bevyMessage.send(key) }
    link.sendJoin = (request) => { joinMessage.send(request) }
    this.links.add(link)
    channel.open()
  }

  /** Fleet connections whose peer has not said yet which bevy it is in (it may not have proven the secret yet). */
  get unheard (): number {
    let count = 0
    for (const link of this.links) if (!this.peers.has(link.peerHex)) count++
    return count
  }

  /** Tells every verified peer the bevy this node is in now. */
  announce (): void {
    const bevy = this.opts.bevy() ?? NO_BEVY
    for (const link of this.links) if (link.verified && link.channel.opened) link.sendBevy(bevy)
  }

  /**
   * Asks one verified peer in `bevy` to admit this node: the `attempt`-th of them in key order,
   * so a retry goes to the next member. Returns false when no such peer is connected.
   */
  requestJoin (bevy: Buffer, request: FleetJoin, attempt: number): boolean {
    const members = [...this.links]
      .filter((link) => link.verified && link.channel.opened && this.peers.get(link.peerHex)?.equals(bevy) === true)
      .sort((a, b) => a.peerHex < b.peerHex ? -1 : a.peerHex > b.peerHex ? 1 : 0)
    if (members.length === 0) return false
    members[attempt % members.length].sendJoin(request)
    return true
  }

  close (): void {
    this.closed = true
    for (const link of this.links) link.channel.close()
    this.links.clear()
  }
}

/**
 * Which bevy a node without one should join, as far as it can tell now: the smallest bevy key a
 * fleet peer named (so concurrent founders' fleets converge on one), else `found` when no peer
 * with a smaller key is still without a bevy (it would found first), else `wait`.
 */
export function fleetChoice (selfHex: string, peers: ReadonlyMap<string, Buffer | null>): { kind: 'join', bevy: Buffer } | { kind: 'found' } | { kind: 'wait' } {
  let best: Buffer | null = null
  for (const bevy of peers.values()) if (bevy !== null && (best === null || Buffer.compare(bevy, best) < 0)) best = bevy
  if (best !== null) return { kind: 'join', bevy: best }
  for (const [peerHex, bevy] of peers) if (bevy === null && peerHex < selfHex) return { kind: 'wait' }
  return { kind: 'found' }
}
