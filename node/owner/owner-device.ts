// An owner's device writing to a hosted cloud over P2P: it opens the cloud's Autobase in the
// owner's storage with its own writer key (the key an operator authorizes with `bevy cloud
// authorize`), replicates with the cloud's replicas on its topic, and writes once admitted.
import ProtomuxWakeup from 'protomux-wakeup'
import { mkdir } from 'node:fs/promises'
import Corestore from 'corestore'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import ReadyResource from 'ready-resource'
import { BevyError, ErrorCode, hexKey } from '../../protocol/index.js'
import type { BootstrapNode } from '../config.js'
import type { Logger } from '../log.js'
import { HostedCloud } from '../hosted/hosted-cloud.js'
import { DeviceRequester } from '../hosted/device-requests.js'
import { clearRunningMark, markRunning } from '../storage.js'

/** How long a device waits for a replica to catch up with before it writes anyway. */
const CATCH_UP_MS = 10_000

export interface OwnerDeviceOptions {
  /** The owner's storage: the device's writer keys and blocks live here. */
  storage: string
  /** The hosted cloud's Autobase key (`base` in `bevy cloud show --json`). */
  base: Buffer
  bootstrap: BootstrapNode[] | null
  /** False opens the local copy only: enough to tell the device's writer key. */
  online: boolean
  log: Logger
}

export class OwnerDevice extends ReadyResource {
  private store: Corestore | null = null
  private swarm: Hyperswarm | null = null
  /** Hints which writers of the cloud have news to the peers (see Bevy's wakeup). */
  private readonly wakeup = new ProtomuxWakeup()
  private cloudOrNull: HostedCloud | null = null
  private requester: DeviceRequester | null = null
  /** This run holds the storage's running mark (see markRunning). */
  private markedRunning = false

  constructor (private readonly opts: OwnerDeviceOptions) {
    super()
  }

  get cloud (): HostedCloud {
    if (this.cloudOrNull === null) throw new BevyError(ErrorCode.CLOSED, 'device is not open')
    return this.cloudOrNull
  }

  protected override async _open (): Promise<void> {
    await mkdir(this.opts.storage, { recursive: true, mode: 0o700 })
    this.store = new Corestore(this.opts.storage)
    const store = this.store
    await store.ready()
    // A device killed mid-write can leave its copy's unindexed tip unreadable; recompute it.
    const afterCrash = await markRunning(this.opts.storage)
    this.markedRunning = true
    if (this.opts.online) {
      this.swarm = new Hyperswarm(this.opts.bootstrap === null ? {} : { bootstrap: this.opts.bootstrap })
      this.swarm.on('connection', (conn: SwarmConnection) => {
        conn.on('error', () => {}) // a peer going away mid-stream is normal
        store.replicate(conn)
        this.wakeup.addStream(conn)
        this.requester?.attach(conn)
      })
    }
    this.cloudOrNull = new HostedCloud({
      store: this.deviceStore(store),
      // Offline, the cloud never touches the swarm (follow: false).
      swarm: this.swarm as Hyperswarm,
      wakeup: this.wakeup,
      key: this.opts.base,
      base: this.opts.base,
      log: this.opts.log,
      onChange: () => {},
      follow: this.opts.online,
      recomputeTip: afterCrash
    })
    await this.cloudOrNull.ready()
  }

  /** The device's store for this cloud: its writer core (and so its key pair) lives here. */
  private deviceStore (store: Corestore): Corestore {
    return store.namespace('device/' + hexKey(this.opts.base))
  }

  /**
   * The key pair of this device's writer core: it signs the device's writes over HTTP, and its
   * public key gives the writer key an operator authorized (nodes derive one from the other).
   */
  async signingKeyPair (): Promise<{ publicKey: Buffer, secretKey: Buffer }> {
    if (this.store === null) throw new BevyError(ErrorCode.CLOSED, 'device is not open')
    return this.deviceStore(this.store).createKeyPair('local')
  }

  protected override async _close (): Promise<void> {
    this.requester?.close()
    if (this.cloudOrNull !== null) await this.cloudOrNull.close()
    if (this.swarm !== null) await this.swarm.destroy()
    this.wakeup.destroy()
    if (this.store !== null) await this.store.close()
    if (this.markedRunning) await clearRunningMark(this.opts.storage)
  }

  /**
   * Asks the cloud's replicas (every one this device connects to, now or later) to let it
   * write; `onAnswer` hears each replica's answer (DeviceAnswer). Approval shows as the device
   * becoming a writer (waitAdmitted).
   */
  requestAuthorization (label: string, onAnswer: (status: number, peerHex: string) => void): void {
    if (this.swarm === null || this.requester !== null) return
    this.requester = new DeviceRequester({ base: this.opts.base, device: this.cloud.writerKey, label }, onAnswer)
    for (const conn of this.swarm.connections) this.requester.attach(conn)
  }

  /**
   * Resolves once this device is a writer of the cloud (an operator authorized its key), as the
   * replicas say now: it first waits (up to CATCH_UP_MS) for a replica and catches up with it, so
   * a device removed while it was away learns so before it writes.
   */
  async waitAdmitted (timeoutMs: number): Promise<void> {
    const base = this.cloud.base
    const connected = Date.now() + Math.min(timeoutMs, CATCH_UP_MS)
    while (this.swarm !== null && this.swarm.connections.size === 0 && Date.now() < connected && this.closing === null) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (this.swarm !== null && this.swarm.connections.size > 0) await this.cloud.catchUp(Math.min(timeoutMs, CATCH_UP_MS))
    const deadline = Date.now() + timeoutMs
    while (!base.writable) {
      if (this.closing !== null) throw new BevyError(ErrorCode.CLOSED, 'device is closing')
      if (Date.now() >= deadline) throw new BevyError(ErrorCode.NOT_WRITABLE, `not a writer of the cloud within ${timeoutMs} ms: is this device authorized (\`bevy cloud authorize CLOUD ${''}<device key>\`)?`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}
