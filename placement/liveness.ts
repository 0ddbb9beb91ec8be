// Liveness as one node judges it, from the view's leases and from direct pings. Pure: the caller
// passes the time in. A node's age is measured on the observer's own clock from the moment the
// observer last had proof of life (its lease sequence advanced in the view, or it pinged us), so a
// peer's skewed clock cannot make it look live or dead. Leases come only every leaseIntervalMs,
// so a node this observer knows from the view alone (not connected: a partial mesh) is allowed
// that much longer, less the ping interval, before it is suspect or down.

export type Liveness = 'live' | 'suspect' | 'down'

export interface LivenessParams {
  suspectAfterMs: number
  downAfterMs: number
  /** How long a node back from down must stay live before placement gives it replicas again. */
  rejoinStableMs: number
  /** Ping interval; with leaseIntervalMs, sets how much longer view-only evidence may be. */
  heartbeatIntervalMs?: number
  /** How often nodes renew their lease in the view (unset: as often as they ping). */
  leaseIntervalMs?: number
}

interface Sighting {
  seq: number
  atMs: number
  /** When the node last came back from down, as this observer saw it. */
  recoveredAtMs: number | null
  /**
   * First seen (or re-seen after a blind spell) with a heartbeat whose own timestamp was already
   * suspectAfterMs old. Placement still gives it the benefit of the doubt (judging it down on a
   * peer's clock would move data on skew), but the router does not send it requests until its
   * heartbeat advances: a freshly restarted node would otherwise route to peers that died while it
   * was away.
   */
  unconfirmed: boolean
  /**
   * Judged by its pings: it pinged this observer, and no lease has come since its connection
   * closed. A node that died stops both, so it is down downAfterMs after its last ping; one that
   * is alive but out of this observer's reach keeps renewing its lease and is judged by the view,
   * with the lease's slack.
   */
  direct: boolean
  /** Connected to this observer (it pinged, and the connection has not closed since). */
  linked: boolean
}

/** One node's heartbeat as read from the view: its sequence and, if known, its own clock. */
export interface HeartbeatSighting { id: string, seq: number, clockMs?: number }

export class LivenessTracker {
  private readonly sightings = new Map<string, Sighting>()
  /**
   * When this observer's judgement was last current: its last read of the view (observeAll), or
   * its last tick while it ran without a pause (awake). Null before the first read.
   */
  private lastReadMs: number | null = null

  /** How much older view-only evidence may be than pinged evidence: the lease's extra period. */
  private readonly viewSlackMs: number

  constructor (private readonly params: LivenessParams) {
    this.viewSlackMs = Math.max(0, (params.leaseIntervalMs ?? 0) - (params.heartbeatIntervalMs ?? params.leaseIntervalMs ?? 0))
  }

  /**
   * Records that `id`'s heartbeat sequence is `seq` at `nowMs`. A node first seen counts as
   * fresh: a newly started observer gives everyone one full window before judging them.
   */
  observe (id: string, seq: number, nowMs: number, clockMs?: number): void {
    const last = this.sightings.get(id)
    if (last === undefined) {
      this.sightings.set(id, { seq, atMs: nowMs, recoveredAtMs: null, unconfirmed: this.looksOld(clockMs, nowMs), direct: false, linked: false })
    } else if (seq > last.seq) {
      // A lease renewed after its connection closed: alive, but not reachable from here.
      this.sightings.set(id, { ...this.advanced(last, nowMs), seq, direct: last.direct && last.linked })
    }
  }

  /** `id` pinged this observer at `nowMs`: direct proof of life. */
  pinged (id: string, nowMs: number): void {
    const last = this.sightings.get(id)
    if (last === undefined) {
      // A sequence below any lease's, so the first lease read counts as an advance.
      this.sightings.set(id, { seq: -1, atMs: nowMs, recoveredAtMs: null, unconfirmed: false, direct: true, linked: true })
    } else {
      this.sightings.set(id, { ...this.advanced(last, nowMs), direct: true, linked: true })
    }
  }

  /** The last connection to `id` closed: from its next lease on, it is judged by the view. */
  unlinked (id: string): void {
    const last = this.sightings.get(id)
    if (last !== undefined) this.sightings.set(id, { ...last, linked: false })
  }

  /** The sighting after fresh proof of life at `nowMs`, with its probation brought up to date. */
  private advanced (last: Sighting, nowMs: number): Sighting {
    const gap = this.classifyAge(nowMs - last.atMs, last.direct)
    let recovered = last.recoveredAtMs
    if (gap === 'down') recovered = nowMs
    // On probation after coming back: a stall starts the probation over, a clean run ends it.
    else if (recovered !== null && gap === 'suspect') recovered = nowMs
    else if (recovered !== null && nowMs - recovered >= this.params.rejoinStableMs) recovered = null
    return { ...last, atMs: nowMs, recoveredAtMs: recovered, unconfirmed: false }
  }

  private classifyAge (ageMs: number, direct: boolean): Liveness {
    return classify(direct ? ageMs : ageMs - this.viewSlackMs, this.params)
  }

  private looksOld (clockMs: number | undefined, nowMs: number): boolean {
    return clockMs !== undefined && nowMs - clockMs >= this.params.suspectAfterMs + this.viewSlackMs
  }

  /**
   * One reading of the view: every node's heartbeat sequence at `nowMs`. An observer that read
   * nothing for downAfterMs (its process was stopped, its VM frozen, its clock stepped) cannot
   * tell who was away meanwhile. Judging by its stale ages, every node would look down and then
   * "recovered", and placement would strip them all of their replicas; so after such a gap every
   * node counts as first seen, as after a restart.
   */
  observeAll (heartbeats: Iterable<HeartbeatSighting>, nowMs: number): void {
    const blind = this.lastReadMs !== null && (nowMs - this.lastReadMs >= this.params.downAfterMs || nowMs < this.lastReadMs)
    this.lastReadMs = nowMs
    for (const { id, seq, clockMs } of heartbeats) {
      const last = this.sightings.get(id)
      if (blind && last !== undefined) {
        this.sightings.set(id, { ...last, seq: Math.max(seq, last.seq), atMs: nowMs, unconfirmed: seq <= last.seq && this.looksOld(clockMs, nowMs) })
      } else {
        this.observe(id, seq, nowMs, clockMs)
      }
    }
  }

  /** True when this observer has not read the view for suspectAfterMs: its judgement is out of date. */
  stale (nowMs: number): boolean {
    return this.lastReadMs !== null && (nowMs - this.lastReadMs >= this.params.suspectAfterMs || nowMs < this.lastReadMs)
  }

  /**
   * The observer ran at `nowMs` (a periodic tick, more often than suspectAfterMs). A quiet view
   * brings no reads: leases are rare at idle, and a running observer that has nothing new to
   * read is as current as it can be. Counting only reads, a dead node's age was reset by the
   * "blind" rule at every read after a quiet spell of downAfterMs, so it came back as live.
   * Returns false after a pause (a tick that comes suspectAfterMs late): the caller must read
   * the view, which then judges as after any blind spell.
   */
  awake (nowMs: number): boolean {
    if (this.lastReadMs === null || this.stale(nowMs)) return false
    this.lastReadMs = nowMs
    return true
  }

  /**
   * Not down, and if it came back from down, seen live without a stall for rejoinStableMs
   * since: only then does placement give it replicas, so a flapping node does not drag data back
   * and forth. A suspect node keeps its replicas (the router already avoids it): data moves only
   * for a node that is down, not for one that was slow or away for less than downAfterMs (the
   * simulator's short-outage runs copied ~10% of a node's replicas per blip before).
   */
  stable (id: string, nowMs: number): boolean {
    if (this.state(id, nowMs) === 'down') return false
    const last = this.sightings.get(id)
    if (last === undefined || last.recoveredAtMs === null) return true
    // Judged by its last heartbeat, not by the clock: a node that stalls as its probation ends
    // has not shown it is back for good.
    return last.atMs - last.recoveredAtMs >= this.params.rejoinStableMs
  }

  /** An independent copy: what each side of a network partition goes on judging from. */
  clone (): LivenessTracker {
    const copy = new LivenessTracker(this.params)
    for (const [id, sighting] of this.sightings) copy.sightings.set(id, { ...sighting })
    copy.lastReadMs = this.lastReadMs
    return copy
  }

  forget (id: string): void {
    this.sightings.delete(id)
  }

  /** Milliseconds since `id`'s heartbeat last advanced, or null if never seen. */
  ageMs (id: string, nowMs: number): number | null {
    const last = this.sightings.get(id)
    return last === undefined ? null : Math.max(0, nowMs - last.atMs)
  }

  /**
   * Liveness for routing: as state(), except that a node first seen with an old heartbeat is
   * 'suspect' until its heartbeat advances, so no request goes to it on the strength of a record
   * written before this observer was watching.
   */
  routeState (id: string, nowMs: number): Liveness {
    const state = this.state(id, nowMs)
    return state === 'live' && this.sightings.get(id)?.unconfirmed === true ? 'suspect' : state
  }

  /** When this observer last had proof of life from `id` (a ping or a renewed lease), or null if never. */
  lastHeardMs (id: string): number | null {
    return this.sightings.get(id)?.atMs ?? null
  }

  state (id: string, nowMs: number): Liveness {
    const last = this.sightings.get(id)
    if (last === undefined) return 'down'
    return this.classifyAge(Math.max(0, nowMs - last.atMs), last.direct)
  }
}

export function classify (ageMs: number, params: LivenessParams): Liveness {
  if (ageMs >= params.downAfterMs) return 'down'
  if (ageMs >= params.suspectAfterMs) return 'suspect'
  return 'live'
}
