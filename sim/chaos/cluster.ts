// The node processes of a chaos run: starts a founder and joiners on a private DHT, and injects
// faults into them by signal. Tracks which nodes are up so clients and checks only address those,
// and the URL each node has now (a restart on port 0 gets a new port; its announce updates the bevy).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnNode, type NodeProcess } from '../../node/cli/spawn.js'
import type { PrivateDht } from '../../node/dht.js'
import type { StatusReport } from '../../node/status.js'

/** Short liveness windows (as the tests use) so a short run sees full failure/recovery cycles. */
const FAST_TIMES = [
  '--heartbeat-interval-ms', '200', '--lease-interval-ms', '1000', '--suspect-after-ms', '1500', '--down-after-ms', '3000',
  '--rejoin-stable-ms', '1000', '--sync-progress-interval-ms', '200', '--disk-usage-interval-ms', '1000',
  '--shutdown-grace-ms', '2000'
]
const ZONES = 3
export const READY_TIMEOUT_MS = 60_000
/** A graceful stop should take about --shutdown-grace-ms; past this it is SIGKILLed and noted. */
const TERM_TIMEOUT_MS = 20_000

export type NodeState = 'up' | 'starting' | 'down' | 'paused'

export interface ChaosNode {
  index: number
  zone: string
  storage: string
  id: string
  url: string
  token: string
  proc: NodeProcess
  state: NodeState
  /** Starts of this node's process; 1 for the first. */
  generation: number
}

export interface Anomaly { node: number, what: string, log: string }

export class ChaosCluster {
  readonly nodes: ChaosNode[] = []
  /** Things that went wrong in the nodes themselves: exits nobody asked for, slow stops. */
  readonly anomalies: Anomaly[] = []
  /** Every pid ever started, so a caller can check none outlives the run. */
  readonly pids: number[] = []
  /** Logs of processes that have exited, by node, oldest first. */
  private readonly pastLogs = new Map<number, string[]>()
  private closing = false

  private constructor (private readonly dht: PrivateDht, private readonly dir: string, private readonly logLevel: string) {}

  /** Starts node 0 as founder, then the rest with one invite, and waits until all see each other live. */
  static async start (o: { dht: PrivateDht, dir: string, count: number, logLevel: string, signal?: AbortSignal }): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(o.dht, o.dir, o.logLevel)
    try {
      const founder = await cluster.launch(0, [], null)
      if (o.count > 1) {
        const { invite } = await cluster.api<{ invite: string }>(founder, 'POST', '/api/invites', { uses: o.count - 1 })
        await Promise.all(Array.from({ length: o.count - 1 }, (_, k) => cluster.launch(k + 1, ['--join', invite], null)))
      }
      await cluster.waitAllLive(30_000, o.signal)
      return cluster
    } catch (err) {
      await cluster.close()
      throw err
    }
  }

  /** Nodes that are running and not paused: what a client could reach right now. */
  up (): ChaosNode[] {
    return this.nodes.filter((n) => n.state === 'up')
  }

  /** Nodes currently out because of a fault (down, paused or still starting). */
  out (): ChaosNode[] {
    return this.nodes.filter((n) => n.state !== 'up')
  }

  async kill (i: number): Promise<void> {
    const n = this.nodes[i]!
    n.state = 'down'
    n.proc.child.kill('SIGKILL')
    await n.proc.exited
  }

  /** SIGTERM and wait for the graceful exit; returns how long it took. */
  async term (i: number): Promise<number> {
    const n = this.nodes[i]!
    n.state = 'down'
    const t0 = Date.now()
    n.proc.child.kill('SIGTERM')
    const timer = setTimeout(() => {
      this.note(i, `did not exit within ${TERM_TIMEOUT_MS} ms of SIGTERM; SIGKILLed`)
      n.proc.child.kill('SIGKILL')
    }, TERM_TIMEOUT_MS)
    const code = await n.proc.exited
    clearTimeout(timer)
    if (code !== 0 && code !== 'SIGKILL') this.note(i, `exited with ${code} after SIGTERM`)
    return Date.now() - t0
  }

  pause (i: number): void {
    const n = this.nodes[i]!
    n.state = 'paused'
    n.proc.child.kill('SIGSTOP')
  }

  resume (i: number): void {
    const n = this.nodes[i]!
    n.proc.child.kill('SIGCONT')
    n.state = 'up'
  }

  /** Starts node `i` again on its storage (no --join: it rejoins its own bevy); returns ms to ready. */
  async restart (i: number): Promise<number> {
    const t0 = Date.now()
    await this.launch(i, [], this.nodes[i]!)
    return Date.now() - t0
  }

  /** All of a node's log so far, every process generation in order. */
  logOf (i: number): string {
    const n = this.nodes[i]
    return [...(this.pastLogs.get(i) ?? []), n === undefined ? '' : n.proc.output()].join('')
  }

  /** Admin API call to one node; throws on a non-2xx answer or after `timeoutMs`. */
  async api<T> (n: Pick<ChaosNode, 'url' | 'token'>, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<T> {
    const res = await fetch(n.url + path, {
      method,
      headers: { authorization: `Bearer ${n.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path} on ${n.url}: ${res.status} ${text}`)
    return JSON.parse(text) as T
  }

  /** Waits until every node is up and lists every node live. */
  async waitAllLive (timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      try {
        if (this.out().length === 0) {
          const reports = await Promise.all(this.nodes.map((n) => this.api<StatusReport>(n, 'GET', '/api/status')))
          if (reports.every((r) => r.nodes.length === this.nodes.length && r.nodes.every((s) => s.state === 'live'))) return
          last = reports.map((r, i) => `n${i} sees ${r.nodes.map((s) => s.state).join(',')}`).join('; ')
        } else last = `${this.out().map((n) => `n${n.index}`).join(',')} not up`
      } catch (err) { last = String(err) }
      await sleep(200, undefined, { signal })
    }
    throw new Error(`not every node sees ${this.nodes.length} live nodes after ${timeoutMs} ms: ${last}`)
  }

  /** Stops every process (SIGCONT first, so a paused one can take its SIGTERM), SIGKILL if it lingers. */
  async close (): Promise<void> {
    this.closing = true
    await Promise.all(this.nodes.map(async (n) => {
      const { child } = n.proc
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await n.proc.exited
      clearTimeout(timer)
    }))
  }

  private async launch (i: number, extra: string[], previous: ChaosNode | null): Promise<ChaosNode> {
    const storage = join(this.dir, `n${i}`)
    const zone = `z${i % ZONES}`
    const args = ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', this.dht.bootstrap,
      '--log-level', this.logLevel, '--zone', zone, ...FAST_TIMES, ...extra]
    if (previous !== null) {
      this.pastLogs.set(i, [...(this.pastLogs.get(i) ?? []), previous.proc.output()])
      previous.state = 'starting'
    }
    const proc = spawnNode(args)
    if (proc.child.pid !== undefined) this.pids.push(proc.child.pid)
    const generation = (previous?.generation ?? 0) + 1
    // A node that exits while we did not stop it is a finding, not a fault we injected.
    proc.exited.then((code) => {
      const n = this.nodes[i]
      if (this.closing || n === undefined || n.proc !== proc || n.state === 'down') return
      n.state = 'down'
      this.note(i, `exited by itself with ${code} (generation ${generation})`)
    }, () => {})
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`n${i} not ready ${READY_TIMEOUT_MS} ms after start; its log:\n${proc.output().slice(-4000)}`)), READY_TIMEOUT_MS)
    })
    if (previous !== null) previous.proc = proc
    try {
      const ready = await Promise.race([proc.ready, late])
      const token = (await readFile(join(ready.storage, 'admin.token'), 'utf8')).trim()
      const node: ChaosNode = previous ?? { index: i, zone, storage, id: ready.id, url: ready.url, token, proc, state: 'up', generation }
      if (previous !== null && previous.id !== ready.id) this.note(i, `came back as ${ready.id}, was ${previous.id}`)
      Object.assign(node, { url: ready.url, token, proc, state: 'up', generation })
      this.nodes[i] = node
      return node
    } catch (err) {
      proc.child.kill('SIGKILL')
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  private note (i: number, what: string): void {
    this.anomalies.push({ node: i, what, log: this.logOf(i).slice(-4000) })
  }
}
