// The invariants, judged from outside the nodes: the checkers see true process states and disks,
// which no node can. Each keeps its own evidence and gives one verdict at the end.
import { formatDuration } from '../protocol/index.js'

export interface Verdict {
  name: string
  ok: boolean
  /** One line a person reads. */
  detail: string
  /** The first violation, with the simulated time it happened, if any. */
  firstViolation: { atMs: number, what: string } | null
}

class Checker {
  violations = 0
  first: { atMs: number, what: string } | null = null

  constructor (readonly name: string) {}

  violate (atMs: number, what: string): void {
    this.violations++
    this.first ??= { atMs, what }
  }

  verdict (ok: boolean, detail: string): Verdict {
    return { name: this.name, ok: ok && this.violations === 0, detail, firstViolation: this.first }
  }
}

export class Checkers {
  /** Every cloud back at full strength within the bound after faults stop. */
  readonly recovery = new Checker('recovery')
  /** Once a dead node is detectably dead, no router sends a request to it. */
  readonly routerAvoidsDown = new Checker('router-avoids-down')
  /** Nodes holding the same ops (and the same judgement) compute the same replica sets. */
  readonly sameOpsSameReplicas = new Checker('same-ops-same-replicas')
  /** Data moved stays within a bound of what the faults made necessary. */
  readonly movesNearOptimal = new Checker('moves-near-optimal')
  /** A cloud always has a complete copy on some disk. */
  readonly noCloudLost = new Checker('no-cloud-lost')

  routedToDown = 0
  routedRequests = 0
  determinismChecks = 0
  recoveredAtMs: number | null = null

  verdicts (v: {
    faultsEndMs: number
    recoveryBoundMs: number
    replicas: number
    underReplicatedAtEnd: number
    detectionBoundMs: number
    copies: number
    necessaryCopies: number
    movesBound: number
    movesSlack: number
    clouds: number
    cloudsWithCopy: number
  }): Verdict[] {
    const recovered = this.recoveredAtMs
    const recoveryOk = recovered !== null && recovered - v.faultsEndMs <= v.recoveryBoundMs
    const recoveryDetail = recovered === null
      ? `${v.underReplicatedAtEnd} clouds still below ${v.replicas} live, synced replicas at the end (bound ${formatDuration(v.recoveryBoundMs)} after faults stopped)`
      : `every cloud back at ${v.replicas} live, synced replicas ${formatDuration(Math.max(0, recovered - v.faultsEndMs))} after faults stopped (bound ${formatDuration(v.recoveryBoundMs)})`
    if (!recoveryOk && this.recovery.first === null) this.recovery.violate(v.faultsEndMs + v.recoveryBoundMs, recoveryDetail)
    const allowed = Math.ceil(v.necessaryCopies * v.movesBound) + v.movesSlack
    const movesOk = v.copies <= allowed
    const ratio = v.necessaryCopies === 0 ? (v.copies === 0 ? '1.00' : 'inf') : (v.copies / v.necessaryCopies).toFixed(2)
    const movesDetail = `${v.copies} copies made for ${v.necessaryCopies} the faults required (${ratio}x; allowed ${v.movesBound}x + ${v.movesSlack})`
    if (!movesOk) this.movesNearOptimal.violate(0, movesDetail)
    return [
      this.recovery.verdict(recoveryOk, recoveryDetail),
      this.routerAvoidsDown.verdict(true, `${this.routedToDown} of ${this.routedRequests} routed requests went to a node dead for over ${formatDuration(v.detectionBoundMs)}`),
      this.sameOpsSameReplicas.verdict(true, `${this.determinismChecks} checks: a fresh engine on shuffled input gave the same replica sets`),
      this.movesNearOptimal.verdict(movesOk, movesDetail),
      this.noCloudLost.verdict(v.cloudsWithCopy === v.clouds, `${v.cloudsWithCopy} of ${v.clouds} clouds have a complete copy on some disk`)
    ]
  }
}
