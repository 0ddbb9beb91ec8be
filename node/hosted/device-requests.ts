// requestAuthorization: an owner's device asks a hosted cloud's replicas to let it write, over a
// protomux channel on the connections it makes on the cloud's topic. A replica answers at once
// (authorized already, or approved by the node's policy) or keeps the request pending until an
// operator approves it with `bevy cloud approve`; the device learns of the approval by becoming a
// writer. Requests carry no proof: approving a key only lets the holder of that key write, and an
// operator sees each request (its key and label) before approving it.
import c from 'compact-encoding'
import Protomux, { type Channel } from 'protomux'
import type { SwarmConnection } from 'hyperswarm'
import { boundedString, hexKey, key32, struct } from '../../protocol/index.js'

export const DEVICE_REQUEST_PROTOCOL = 'cloud-bevy/device-request/v1'
export const MAX_DEVICE_LABEL_BYTES = 128

/** Append only. */
export const DeviceAnswer = { PENDING: 0, AUTHORIZED: 1 } as const
export type DeviceAnswer = typeof DeviceAnswer[keyof typeof DeviceAnswer]

export interface DeviceRequest { base: Buffer, device: Buffer, label: string }
interface Answer { base: Buffer, status: number }

const requestCodec = struct<DeviceRequest>({ base: key32, device: key32, label: boundedString(MAX_DEVICE_LABEL_BYTES) })
const answerCodec = struct<Answer>({ base: key32, status: c.uint })

interface Messages { request: { send (r: DeviceRequest): void }, answer: { send (a: Answer): void } }

/** Opens the channel on `conn`; wire numbering (request, then answer) is append only. */
function openChannel (conn: SwarmConnection, onRequest: (r: DeviceRequest) => void, onAnswer: (a: Answer) => void, onopen?: () => void): (Messages & { channel: Channel }) | null {
  const channel = Protomux.from(conn).createChannel({ protocol: DEVICE_REQUEST_PROTOCOL, ...(onopen === undefined ? {} : { onopen }) })
  if (channel === null) return null
  const request = channel.addMessage({ encoding: requestCodec, onmessage: onRequest })
  const answer = channel.addMessage({ encoding: answerCodec, onmessage: onAnswer })
  return { channel, request, answer } // the caller opens it, once it holds the messages

}

/** The channels one side has open, closed together; a connection's channel goes when it closes. */
class ChannelSet {
  private readonly channels = new Set<Channel>()
  protected closed = false

  /** Keeps `opened` and opens it; null (the protocol is open on this connection already) is skipped. */
  protected track (conn: SwarmConnection, opened: { channel: Channel } | null): void {
    if (opened === null) return
    this.channels.add(opened.channel)
    conn.once('close', () => this.channels.delete(opened.channel))
    opened.channel.open()
  }

  close (): void {
    this.closed = true
    for (const channel of this.channels) channel.close()
    this.channels.clear()
  }
}

/** The replica's side: answers each request with what `decide` says (null: not a cloud of this bevy, no answer). */
export class DeviceRequestDesk extends ChannelSet {
  constructor (private readonly decide: (request: DeviceRequest, peerHex: string) => Promise<DeviceAnswer | null>) {
    super()
  }

  attach (conn: SwarmConnection): void {
    if (this.closed) return
    const peerHex = hexKey(conn.remotePublicKey)
    const opened = openChannel(conn, (request) => {
      this.decide(request, peerHex).then((status) => {
        if (status !== null && !this.closed && opened?.channel.opened === true) opened.answer.send({ base: request.base, status })
      }, () => {})
    }, () => {})
    this.track(conn, opened)
  }
}

/** The device's side: sends `request` on every connection, now and as they come, and reports answers. */
export class DeviceRequester extends ChannelSet {
  constructor (private readonly request: DeviceRequest, private readonly onAnswer: (status: number, peerHex: string) => void) {
    super()
  }

  attach (conn: SwarmConnection): void {
    if (this.closed) return
    const peerHex = hexKey(conn.remotePublicKey)
    // The request goes out once the replica opened its side too.
    const opened: (Messages & { channel: Channel }) | null = openChannel(conn, () => {}, (answer) => {
      if (answer.base.equals(this.request.base) && !this.closed) this.onAnswer(answer.status, peerHex)
    }, () => { opened?.request.send(this.request) })
    this.track(conn, opened)
  }
}
