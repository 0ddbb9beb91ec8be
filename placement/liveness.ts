// Liveness as one node judges it from the view. Pure: the caller passes the time in.
// A node's heartbeat age is measured on the observer's own clock from the moment the observer
// saw the heartbeat sequence advance, so a peer's skewed clock cannot make it look live or dead.

export type Liveness = 'live' | 'suspect' | 'down'

export interface LivenessParams {
  suspectAfterMs: number
  downAfterMs: number
}

interface Sighting {
  seq: number
  atMs: number
  /** When the node last came back from down, as this observer saw it. */
  recoveredAtMs: number | null
}

export class LivenessTracker {
  private readonly sightings = new Map<string, Sighting>()

  constructor (private readonly params: LivenessParams) {}

  /**
   * Records that `id`'s heartbeat sequence is `seq` at `nowMs`. A node first seen counts as
   * fresh: a newly started observer gives everyone one full window before judging them.
   */
  observe (id: string, seq: number, nowMs: number): void {
    const last = this.sightings.get(id)
    if (last === undefined) {
      this.sightings.set(id, { seq, atMs: nowMs, recoveredAtMs: null })
    } else if (seq > last.seq) {
      const wasDown = classify(nowMs - last.atMs, this.params) === 'down'
      this.sightings.set(id, { seq, atMs: nowMs, recoveredAtMs: wasDown ? nowMs : last.recoveredAtMs })
    }
  }

  /**
   * Live, and if it came back from down, live for at least `stableMs` since: only then does
   * placement give it replicas again, so a flapping node does not drag data back and forth.
   */
  stable (id: string, nowMs: number, stableMs: number): boolean {
    if (this.state(id, nowMs) !== 'live') return false
    const recovered = this.sightings.get(id)?.recoveredAtMs ?? null
    return recovered === null || nowMs - recovered >= stableMs
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
