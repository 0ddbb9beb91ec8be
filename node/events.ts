// The node's recent events (joins, state changes, moves, handoffs): a bounded list the dashboard
// shows and streams, and one info log line per event, so the logs and the page tell one story.
import { EventEmitter } from 'node:events'
import type { Logger } from './log.js'

export const EVENT_KINDS = [
  'join', 'leave', 'live', 'suspect', 'down', 'drain', 'undrain', 'cloud-added', 'cloud-removed', 'move', 'synced', 'handoff', 'evict'
] as const
export type EventKind = typeof EVENT_KINDS[number]

export interface BevyEventInput {
  kind: EventKind
  /** z-base-32 node id the event is about, if any. */
  node?: string
  /** z-base-32 cloud key the event is about, if any. */
  cloud?: string
  message: string
}

export interface BevyEvent extends BevyEventInput {
  seq: number
  /** ISO time this node saw it. */
  at: string
}

export class EventJournal extends EventEmitter {
  private readonly kept: BevyEvent[] = []
  private seq = 0

  constructor (private readonly opts: { capacity: number, log: Logger, now: () => number }) {
    super()
  }

  record (input: BevyEventInput): BevyEvent {
    const event: BevyEvent = { seq: ++this.seq, at: new Date(this.opts.now()).toISOString(), ...input }
    this.kept.push(event)
    if (this.kept.length > this.opts.capacity) this.kept.splice(0, this.kept.length - this.opts.capacity)
    const fields: Record<string, string> = { event: input.kind }
    if (input.node !== undefined) fields.node = input.node
    if (input.cloud !== undefined) fields.cloud = input.cloud
    this.opts.log.info(fields, input.message)
    this.emit('event', event)
    return event
  }

  /** The kept events, oldest first. */
  recent (): BevyEvent[] {
    return this.kept.slice()
  }
}
