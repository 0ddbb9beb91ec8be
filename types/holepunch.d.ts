// Minimal declarations for the untyped Holepunch modules, covering only what Cloud Bevy calls.
// Kept narrow on purpose: a wrong wide type is worse than a missing one.

declare module 'ready-resource' {
  import { EventEmitter } from 'node:events'
  export default class ReadyResource extends EventEmitter {
    opening: Promise<void> | null
    closing: Promise<void> | null
    opened: boolean
    closed: boolean
    ready(): Promise<void>
    close(): Promise<void>
    protected _open(): Promise<void>
    protected _close(): Promise<void>
  }
}

declare module 'hypercore-id-encoding' {
  export function encode(key: Uint8Array): string
  export function decode(id: string | Uint8Array): Buffer
  export function normalize(id: string | Uint8Array): string
  export function isValid(id: unknown): boolean
}

declare module 'hypercore-crypto' {
  export interface KeyPair { publicKey: Buffer, secretKey: Buffer }
  export function keyPair(seed?: Uint8Array): KeyPair
  export function randomBytes(n: number): Buffer
  export function discoveryKey(key: Uint8Array): Buffer
  export function hash(data: Uint8Array | Uint8Array[]): Buffer
  export function sign(message: Uint8Array, secretKey: Uint8Array): Buffer
  export function verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean
}

declare module 'hyperdht' {
  import { EventEmitter } from 'node:events'
  export interface BootstrapNode { host: string, port: number }
  export interface DHTOptions {
    bootstrap?: Array<BootstrapNode | string>
    ephemeral?: boolean
    firewalled?: boolean
    port?: number
    host?: string
  }
  export default class DHT extends EventEmitter {
    constructor (opts?: DHTOptions)
    static keyPair (seed?: Uint8Array): { publicKey: Buffer, secretKey: Buffer }
    fullyBootstrapped (): Promise<void>
    address (): { host: string, port: number }
    destroy (): Promise<void>
  }
}

declare module 'hyperdht/testnet.js' {
  import DHT from 'hyperdht'
  export interface Testnet {
    nodes: DHT[]
    bootstrap: Array<{ host: string, port: number }>
    destroy (): Promise<void>
  }
  export default function createTestnet (size?: number, opts?: { host?: string, port?: number }): Promise<Testnet>
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  export interface PeerInfo {
    publicKey: Buffer
    topics: Buffer[]
    client: boolean
    /** Set when the firewall refused the peer; the swarm never tries it again until unset. */
    banned: boolean
    ban (banned: boolean): void
  }
  export interface SwarmConnection extends Duplex {
    remotePublicKey: Buffer
    publicKey: Buffer
    userData: unknown
    rawStream: { remoteHost: string, remotePort: number }
  }
  export interface PeerDiscovery {
    flushed (): Promise<void>
    refresh (opts?: { client?: boolean, server?: boolean }): Promise<void>
    destroy (): Promise<void>
  }
  export interface SwarmOptions {
    keyPair?: { publicKey: Buffer, secretKey: Buffer }
    bootstrap?: Array<{ host: string, port: number } | string>
    maxPeers?: number
    /** A DHT node to share with another swarm instead of starting one. */
    dht?: EventEmitter
    firewall?: (remotePublicKey: Buffer, payload?: unknown) => boolean
  }
  export default class Hyperswarm extends EventEmitter {
    constructor (opts?: SwarmOptions)
    keyPair: { publicKey: Buffer, secretKey: Buffer }
    connections: Set<SwarmConnection>
    peers: Map<string, PeerInfo>
    dht: EventEmitter
    destroyed: boolean
    join (topic: Uint8Array, opts?: { client?: boolean, server?: boolean }): PeerDiscovery
    leave (topic: Uint8Array): Promise<void>
    joinPeer (publicKey: Uint8Array): void
    leavePeer (publicKey: Uint8Array): void
    flush (): Promise<boolean>
    destroy (): Promise<void>
    on (event: 'connection', listener: (conn: SwarmConnection, info: PeerInfo) => void): this
    on (event: 'update', listener: () => void): this
    on (event: string, listener: (...args: any[]) => void): this
  }
}

declare module 'corestore' {
  import type { Duplex } from 'node:stream'
  import { EventEmitter } from 'node:events'
  export interface Hypercore extends EventEmitter {
    key: Buffer
    discoveryKey: Buffer
    length: number
    byteLength: number
    contiguousLength: number
    contiguousByteLength: number
    /** Bumped on every truncation: a version number means different content on a new fork. */
    fork: number
    writable: boolean
    append (blocks: Buffer | Buffer[]): Promise<{ length: number, byteLength: number }>
    /** Replication peers; remoteContiguousLength is how much of this core the peer holds from 0. */
    peers: Array<{ remoteContiguousLength: number }>
    closed: boolean
    ready (): Promise<void>
    close (): Promise<void>
    update (opts?: { wait?: boolean }): Promise<boolean>
    clear (start: number, end?: number): Promise<unknown>
    /** Closes every session and deletes the core from storage. */
    purge (): Promise<void>
    download (range?: { start?: number, end?: number, linear?: boolean }): { done (): Promise<void>, destroy (): void }
    /** Small values kept with the core in its storage. */
    setUserData (key: string, value: Buffer | null): Promise<void>
    getUserData (key: string): Promise<Buffer | null>
  }
  export default class Corestore {
    constructor (storage: string | import('hypercore-storage').default, opts?: Record<string, unknown>)
    ready (): Promise<void>
    close (): Promise<void>
    namespace (name: string | Uint8Array): Corestore
    session (opts?: Record<string, unknown>): Corestore
    get (opts: string | Record<string, unknown>): Hypercore
    replicate (stream: Duplex | boolean, opts?: Record<string, unknown>): Duplex
    createKeyPair (name: string): Promise<{ publicKey: Buffer, secretKey: Buffer }>
  }
}

declare module 'hyperbee' {
  import type { Hypercore } from 'corestore'
  export interface BeeEntry<V> { seq: number, key: string, value: V }
  export interface BeeRange { gt?: string, gte?: string, lt?: string, lte?: string, limit?: number, reverse?: boolean }
  export interface BeeBatch {
    put (key: string, value: Uint8Array): Promise<void>
    del (key: string): Promise<void>
    get (key: string): Promise<BeeEntry<Buffer> | null>
    flush (): Promise<void>
  }
  export default class Hyperbee {
    constructor (core: Hypercore, opts?: { keyEncoding?: string, valueEncoding?: string, extension?: boolean })
    core: Hypercore
    version: number
    ready (): Promise<void>
    close (): Promise<void>
    get (key: string): Promise<BeeEntry<Buffer> | null>
    put (key: string, value: Uint8Array): Promise<void>
    del (key: string): Promise<void>
    batch (): BeeBatch
    createReadStream (range?: BeeRange): AsyncIterable<BeeEntry<Buffer>>
    /** A read-only view of the bee at `version`. */
    checkout (version: number): Hyperbee
  }
}

declare module 'autobase' {
  import { EventEmitter } from 'node:events'
  import type Corestore from 'corestore'
  import type { Hypercore } from 'corestore'
  import type { Duplex } from 'node:stream'
  export interface ApplyNode { value: unknown, from: { key: Buffer } }
  export interface ApplyHost {
    addWriter (key: Uint8Array, opts?: { indexer?: boolean }): Promise<void>
    removeWriter (key: Uint8Array): Promise<void>
    removeable (key: Uint8Array): boolean
  }
  export interface AutobaseHandlers<V> {
    open: (store: Corestore) => V
    apply: (nodes: ApplyNode[], view: V, host: ApplyHost) => Promise<void>
    close?: (view: V) => Promise<void>
    valueEncoding?: unknown
    ackInterval?: number
    /** A wakeup protocol shared by every Autobase of the process (see protomux-wakeup). */
    wakeup?: import('protomux-wakeup').default
    /** On open, truncate the views to their indexed length and clear the local apply state. */
    nukeTip?: boolean
  }
  export default class Autobase<V = unknown> extends EventEmitter {
    constructor (store: Corestore, bootstrap: Uint8Array | null, handlers: AutobaseHandlers<V>)
    static getLocalCore (store: Corestore): Hypercore
    static getLocalKey (store: Corestore): Promise<Buffer>
    /** The system core (writers, heads), once open. */
    system: { core: Hypercore } | null
    key: Buffer
    discoveryKey: Buffer
    local: Hypercore
    view: V
    writable: boolean
    isIndexer: boolean
    length: number
    signedLength: number
    closing: Promise<void> | null
    ready (): Promise<void>
    close (): Promise<void>
    append (value: unknown): Promise<void>
    update (): Promise<void>
    replicate (stream: Duplex): Duplex
  }
}

declare module 'blind-pairing' {
  import type Hyperswarm from 'hyperswarm'
  import { EventEmitter } from 'node:events'
  export interface CreatedInvite {
    id: Buffer
    invite: Buffer
    publicKey: Buffer
    discoveryKey: Buffer
    expires: number
  }
  export interface DecodedInvite { id: Buffer, seed: Buffer, discoveryKey: Buffer, expires: number }
  export interface MemberRequest {
    inviteId: Buffer
    userData: Buffer | null
    open (publicKey: Uint8Array): Buffer
    confirm (opts: { key: Uint8Array, encryptionKey?: Uint8Array | null }): void
    deny (opts?: { status?: number }): void
  }
  export interface PairingResult { key: Buffer, encryptionKey: Buffer | null }
  export interface Member { flushed (): Promise<void>, close (): Promise<void> }
  export interface Candidate { request: EventEmitter, pairing: Promise<PairingResult | null>, close (): Promise<void> }
  export default class BlindPairing {
    constructor (swarm: Hyperswarm, opts?: { poll?: number })
    static createInvite (key: Uint8Array, opts?: { expires?: number, seed?: Uint8Array, discoveryKey?: Uint8Array }): CreatedInvite
    static decodeInvite (invite: Uint8Array): DecodedInvite
    addMember (opts: { discoveryKey: Uint8Array, onadd: (request: MemberRequest) => Promise<void> }): Member
    addCandidate (opts: { invite: Uint8Array, userData: Uint8Array, onadd?: (result: PairingResult) => Promise<void> }): Candidate
    close (): Promise<void>
  }
}

declare module 'os-utils' {
  export function cpuUsage (callback: (fraction: number) => void): void
  export function freemem (): number
  export function totalmem (): number
  export function freememPercentage (): number
}

declare module 'z32' {
  export function encode (buf: Uint8Array): string
  export function decode (s: string): Buffer
}

declare module 'hypercore-storage' {
  export default class CoreStorage {
    constructor (dir: string, opts?: { writeBufferSize?: number, readOnly?: boolean })
    /**
     * Compacts the whole RocksDB, which is what returns cleared blocks' space to the disk.
     * Options are rocksdb-native's: blobGarbageCollectionPolicy (1 = force),
     * blobGarbageCollectionAgeCutoff (0..1), bottommostLevelCompaction (2 = force).
     */
    compact (opts?: { blobGarbageCollectionPolicy?: number, blobGarbageCollectionAgeCutoff?: number, bottommostLevelCompaction?: number }): Promise<void>
  }
}

declare module 'hyperdrive' {
  import type Corestore from 'corestore'
  import type { Hypercore } from 'corestore'
  import type { Readable } from 'node:stream'
  export interface BlobId { blockOffset: number, blockLength: number, byteOffset: number, byteLength: number }
  export interface DriveEntry {
    seq: number
    key: string
    value: { executable: boolean, linkname: string | null, blob: BlobId | null, metadata: unknown }
  }
  export interface Hyperblobs {
    core: Hypercore
    createReadStream (id: BlobId, opts?: { start?: number, length?: number, wait?: boolean }): Readable
    get (id: BlobId, opts?: { wait?: boolean, timeout?: number }): Promise<Buffer | null>
  }
  export default class Hyperdrive {
    constructor (store: Corestore, key?: Buffer | null, opts?: Record<string, unknown>)
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly version: number
    readonly writable: boolean
    readonly core: Hypercore
    readonly blobs: Hyperblobs | null
    readonly closed: boolean
    ready (): Promise<void>
    close (): Promise<void>
    update (opts?: { wait?: boolean }): Promise<boolean>
    findingPeers (): () => void
    getBlobs (): Promise<Hyperblobs | null>
    /** Blob blocks referenced by the entries at a db length (scans every entry). */
    getBlobsLength (checkout?: number): Promise<number>
    checkout (version: number): Hyperdrive
    entry (path: string, opts?: { wait?: boolean, timeout?: number }): Promise<DriveEntry | null>
    get (path: string, opts?: { wait?: boolean }): Promise<Buffer | null>
    put (path: string, data: Buffer | string, opts?: Record<string, unknown>): Promise<void>
    del (path: string): Promise<void>
    list (folder?: string, opts?: { recursive?: boolean, wait?: boolean }): AsyncIterable<DriveEntry>
    readdir (folder?: string, opts?: { wait?: boolean }): AsyncIterable<string>
    createReadStream (path: string, opts?: { start?: number, length?: number }): Readable
  }
}

declare module 'hypercore' {
  /** Only the static key derivation: a core's key from its manifest (what corestore derives for a key pair). */
  export default class Hypercore {
    static key (manifest: { version: number, signers: Array<{ publicKey: Uint8Array }> }): Buffer
  }
}

declare module 'hyperblobs' {
  import type { Hypercore } from 'corestore'
  import type { Readable, Writable } from 'node:stream'
  import type { BlobId } from 'hyperdrive'
  export interface BlobWriteStream extends Writable { id: BlobId }
  export default class Hyperblobs {
    constructor (core: Hypercore, opts?: { blockSize?: number })
    core: Hypercore
    ready (): Promise<void>
    close (): Promise<void>
    createWriteStream (opts?: Record<string, unknown>): BlobWriteStream
    createReadStream (id: BlobId, opts?: { start?: number, length?: number, wait?: boolean, timeout?: number }): Readable
    get (id: BlobId, opts?: { wait?: boolean, timeout?: number }): Promise<Buffer | null>
  }
}

declare module 'localdrive' {
  export default class Localdrive {
    constructor (root: string, opts?: Record<string, unknown>)
    mirror (out: unknown, opts?: { prune?: boolean, filter?: (key: string) => boolean }): MirrorDrive
    close (): Promise<void>
  }
  export interface MirrorDiff { op: 'add' | 'change' | 'remove', key: string, bytesAdded: number, bytesRemoved: number }
  export interface MirrorDrive extends AsyncIterable<MirrorDiff> {
    count: { files: number, add: number, remove: number, change: number }
    bytesAdded: number
    bytesRemoved: number
    done (): Promise<void>
  }
}

declare module 'serve-drive' {
  import ReadyResource from 'ready-resource'
  import type { Server } from 'node:http'
  import type { AddressInfo } from 'node:net'
  import type Hyperdrive from 'hyperdrive'
  export interface ServeDriveRequest { key: Buffer | null, filename: string, version: number }
  export interface ServeDriveOptions {
    get?: (req: ServeDriveRequest) => Hyperdrive | null | Promise<Hyperdrive | null>
    release?: (req: { key: Buffer | null, drive: Hyperdrive }) => void | Promise<void>
    port?: number
    host?: string
    anyPort?: boolean
    /** false turns off the random token every URL must carry otherwise. */
    token?: boolean | Buffer
    server?: Server | null
  }
  export default class ServeDrive extends ReadyResource {
    constructor (opts?: ServeDriveOptions)
    server: Server
    port: number
    address (): AddressInfo | null
    getLink (path: string, opts?: { https?: boolean, host?: string, key?: string, version?: number }): string
  }
}

declare module 'protomux' {
  import type { Duplex } from 'node:stream'
  export interface MessageEncoding<T> { preencode (state: any, value: T): void, encode (state: any, value: T): void, decode (state: any): T }
  export interface Message<T> { send (value: T): boolean }
  export interface Channel {
    opened: boolean
    closed: boolean
    open (handshake?: unknown): void
    close (): void
    addMessage<T> (opts: { encoding: MessageEncoding<T>, onmessage?: (value: T, channel: Channel) => void }): Message<T>
  }
  export default class Protomux {
    static from (stream: Duplex): Protomux
    createChannel (opts: { protocol: string, id?: Buffer | null, unique?: boolean, onopen?: () => void, onclose?: () => void }): Channel | null
  }
}

declare module '@hyperswarm/secret-stream' {
  import { Duplex } from 'node:stream'
  export default class NoiseSecretStream extends Duplex {
    constructor (isInitiator: boolean, rawStream?: Duplex | null)
    rawStream: Duplex
    publicKey: Buffer
    remotePublicKey: Buffer
    opened: Promise<boolean>
  }
}

declare module 'hypercore-storage/lib/keys.js' {
  /** Key builders of hypercore-storage's RocksDB layout; `data(p)` starts core data range p. */
  export const core: { data (dataPointer: number): Buffer, core (corePointer: number): Buffer }
}

declare module 'protomux-wakeup' {
  /** Hints which writers of an Autobase have news, over every stream added (one per connection). */
  export default class ProtomuxWakeup {
    constructor ()
    addStream (stream: unknown): void
    destroy (): void
  }
}
