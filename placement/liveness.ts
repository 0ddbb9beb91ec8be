// Liveness as one node judges it from the view. Pure: the caller passes the time in.
// A node's heartbeat age is measured on the observer's own clock from the moment the observer
// saw the heartbeat sequence advance, so a peer's skewed clock cannot make it look live or dead.

export type Liveness = 'live' | 'suspect' | 'down'

export interface LivenessParams {
  suspectAfterMs: number
  downAfterMs: number
}

interface Sighting { seq: number, atMs: number }

export class LivenessTracker {
  private readonly sightings = new Map<string, Sighting>()

  constructor (private readonly params: LivenessParams) {}

  /**
   * Records that `id`'s heartbeat sequence is `seq` at `nowMs`. A node first seen counts as
   * fresh: a newly started observer gives everyone one full window before judging them.
   */
  observe (id: string, seq: number, nowMs: number): void {
    const last = this.sightings.get(id)
    if (last === undefined || seq > last.seq) this.sightings.set(id, { seq, atMs: nowMs })
  }

  forget (id: string): void {
    this.sightings.delete(id)
  }

  /** Milliseconds since `id`'s heartbeat last advanced, or null if never seen. */
  ageMs (id: string, nowMs: number): number | null {
    const last = this.sightings.get(id)
    return last === undefined ? null : Math.max(0, nowMs - last.atMs)
  }

  state (id: string, nowMs: number): Liveness {
    const age = this.ageMs(id, nowMs)
    if (age === null) return 'down'
    return classify(age, this.params)
  }
}

export function classify (ageMs: number, params: LivenessParams): Liveness {
  if (ageMs >= params.downAfterMs) return 'down'
  if (ageMs >= params.suspectAfterMs) return 'suspect'
  return 'live'
}
