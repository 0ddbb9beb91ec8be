// A cap on work in flight (proxied requests, pinned connections, WebSocket relays): each holds
// two sockets and buffers, so a flood past the cap is answered 503 instead of exhausting the node.

export class ConcurrencyGate {
  private inFlight = 0

  constructor (readonly max: number) {}

  get full (): boolean {
    return this.inFlight >= this.max
  }

  get size (): number {
    return this.inFlight
  }

  /** Takes a slot, or returns null when all are taken. The returned function gives it back, once. */
  tryEnter (): (() => void) | null {
    if (this.full) return null
    this.inFlight++
    let left = false
    return () => {
      if (left) return
      left = true
      this.inFlight--
    }
  }
}
