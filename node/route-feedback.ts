// What this node has seen of its own requests to other replicas: how many are in flight to each,
// and when one last failed. The router acts on this evidence at once; placement never sees it,
// so every node still computes the same replica sets from the view alone.
export class RouteFeedback {
  private readonly inFlight = new Map<string, number>()
  private readonly failures = new Map<string, number>()

  /** Counts a request to `node` (hex) as in flight until the returned function is called. */
  begin (node: string): () => void {
    this.inFlight.set(node, (this.inFlight.get(node) ?? 0) + 1)
    let ended = false
    return () => {
      if (ended) return
      ended = true
      const left = (this.inFlight.get(node) ?? 1) - 1
      if (left <= 0) this.inFlight.delete(node)
      else this.inFlight.set(node, left)
    }
  }

  fail (node: string, nowMs: number): void {
    this.failures.set(node, nowMs)
  }

  inFlightTo (node: string): number {
    return this.inFlight.get(node) ?? 0
  }

  lastFailureMs (node: string): number | null {
    return this.failures.get(node) ?? null
  }
}
