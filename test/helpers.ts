// Shared test plumbing: temp dirs, a loopback DHT, waiting on conditions, node processes.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import type { TestContext } from 'node:test'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import type { FastifyInstance } from 'fastify'
import { defaultConfig, parseBootstrap } from '../node/config.js'
import { Bevy } from '../node/bevy.js'
import { buildApp, type AppOptions } from '../router/app.js'
import { BevyError, ErrorCode, formatKey } from '../protocol/index.js'
import type { CloudRoute, RouteOptions } from '../node/bevy.js'
import { RouteFeedback } from '../node/route-feedback.js'
import { systemClock } from '../node/timer.js'
import type { CloudSource } from '../router/routes/cloud-content.js'
import { startPrivateDht, type PrivateDht } from '../node/dht.js'
import { BIN_PATH, spawnNode, type NodeProcess } from '../node/cli/spawn.js'
import type { ReadyMessage } from '../node/cli/start.js'

type Teardown = { after: (fn: () => Promise<void> | void) => void }

const cleanups = new WeakMap<Teardown, Array<() => Promise<void> | void>>()

/**
 * Runs `fn` when the test ends, in reverse order of registration (node:test runs `after` hooks
 * first-in, first-out), so what was opened last closes first: nodes stop before their temp
 * dirs go, and the DHT goes last.
 */
export function onTeardown (t: Teardown, fn: () => Promise<void> | void): void {
  let stack = cleanups.get(t)
  if (stack === undefined) {
    const fns: Array<() => Promise<void> | void> = []
    cleanups.set(t, stack = fns)
    t.after(async () => {
      // Every cleanup runs even if one fails; the first failure is reported after all ran.
      let failure: unknown = null
      while (fns.length > 0) {
        try { await fns.pop()?.() } catch (err) { failure ??= err }
      }
      if (failure !== null) throw failure
    })
  }
  stack.push(fn)
}

/** A fresh temp dir, removed when the test ends. */
export async function tempDir (t: Teardown, name = 'bevy-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name))
  onTeardown(t, () => rm(dir, { recursive: true, force: true, maxRetries: 3 }))
  return dir
}

/** A private loopback DHT, exactly what `bevy dht` starts, closed when the test ends. */
export async function loopbackDht (t: Teardown): Promise<PrivateDht> {
  const dht = await startPrivateDht({ port: 0 })
  onTeardown(t, () => dht.close())
  return dht
}

/** Polls `check` until it returns a non-undefined value, or fails after `timeoutMs`. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out waiting for ${what}${lastError === null ? '' : `: ${String(lastError)}`}`)
}

/** Short liveness windows so failure detection is quick in tests. */
export const FAST_TIMES = ['--heartbeat-interval-ms', '200', '--lease-interval-ms', '1000', '--suspect-after-ms', '1500', '--down-after-ms', '3000']

/** Spawns `bevy start` and stops it (SIGKILL if it lingers) when the test ends. */
export function nodeProcess (t: Teardown, args: string[]): NodeProcess {
  const node = spawnNode(args)
  onTeardown(t, async () => {
    const stopped = node.stop('SIGTERM')
    const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000)
    await stopped
    clearTimeout(timer)
  })
  return node
}

/** The node's ready message, or a failure carrying the node's own log if it takes too long. */
export async function readyWithin (node: NodeProcess, timeoutMs = 60_000): Promise<ReadyMessage> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`node not ready after ${timeoutMs} ms; its log:\n${node.output().slice(-6000)}`)), timeoutMs)
  })
  try {
    return await Promise.race([node.ready, late])
  } finally {
    clearTimeout(timer)
  }
}

export function nodeArgs (storage: string, dht: PrivateDht, extra: string[] = []): string[] {
  return ['--storage', storage, '--port', '0', '--host', '127.0.0.1', '--bootstrap', dht.bootstrap, '--log-level', process.env.BEVY_TEST_LOG_LEVEL ?? 'info', ...FAST_TIMES, ...extra]
}

export async function getJson<T> (url: string, token?: string): Promise<T> {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** Drives an owner seeds from this process, as real clouds for node processes to replicate. */
export interface SeededDrives { keys: string[], drives: Hyperdrive[] }

/**
 * Creates `count` drives and seeds them on a loopback DHT until the test ends. Each holds one small
 * page, or the files `filesOf(i)` gives (path without the leading slash to bytes).
 */
export async function seedDrives (t: Teardown, dht: PrivateDht, count: number, filesOf?: (i: number) => Map<string, Buffer>): Promise<SeededDrives> {
  const store = new Corestore(await tempDir(t, 'bevy-owner-'))
  const swarm = new Hyperswarm({ bootstrap: parseBootstrap(dht.bootstrap) })
  onTeardown(t, async () => { await swarm.destroy(); await store.close() })
  swarm.on('connection', (conn: SwarmConnection) => { conn.on('error', () => {}); store.replicate(conn) })
  const drives: Hyperdrive[] = []
  for (let i = 0; i < count; i++) {
    const drive = new Hyperdrive(store.namespace(`drive-${i}`))
    await drive.ready()
    const files = filesOf?.(i) ?? new Map([['index.html', Buffer.from(`<h1>cloud ${i}</h1>`)]])
    for (const [path, bytes] of files) await drive.put('/' + path, bytes)
    swarm.join(drive.discoveryKey, { server: true, client: true })
    drives.push(drive)
  }
  await swarm.flush()
  return { keys: drives.map((d) => formatKey(d.key)), drives }
}

/** A running node as tests address it. */
export interface Member { id: string, url: string, token: string, storage: string }

/** Calls a node's admin API with its token; throws on any non-2xx answer. */
export async function api<T> (m: Pick<Member, 'url' | 'token'>, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(m.url + path, {
    method,
    headers: { authorization: `Bearer ${m.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

export interface Run { code: number | null, stdout: string, stderr: string }

/** Runs one `bevy` command to completion. */
export function runBevy (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return spawnBevy(args, env).done
}

/** A `bevy` command under way: `done` resolves when it exits (code null if a signal ended it). */
export interface RunningBevy { child: ChildProcess, done: Promise<Run> }

/** Starts one `bevy` command, for a caller that may signal it before it finishes. */
export function spawnBevy (args: string[], env: NodeJS.ProcessEnv = {}): RunningBevy {
  const child = spawn(process.execPath, [BIN_PATH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const done = new Promise<Run>((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  return { child, done }
}

/** Writes each file (path relative to `root`, '/'-separated) under `root`, creating folders. */
export async function writeFiles (root: string, files: Map<string, Buffer>): Promise<void> {
  for (const [path, bytes] of files) {
    await mkdir(join(root, path, '..'), { recursive: true })
    await writeFile(join(root, path), bytes)
  }
}

export type { TestContext }

/**
 * A stand-in for the node behind the cloud routes: `route` decides where each request goes, and
 * only the clouds in `known` (hex) exist. Routing feedback and the clock are the real ones.
 */
export function standInSource (route: (keyHex: string, exclude?: ReadonlySet<string>, opts?: RouteOptions) => CloudRoute, known: string[], id: string | null = null): CloudSource {
  const clouds = new Set(known)
  return {
    routeCloud: (keyHex, opts) => {
      if (!clouds.has(keyHex)) throw new BevyError(ErrorCode.CLOUD_NOT_FOUND, 'no such cloud')
      return route(keyHex, opts?.exclude, opts)
    },
    routing: new RouteFeedback(),
    clock: systemClock,
    idTextOrNull: id
  }
}

export interface StartedBevy {
  members: Member[]
  procs: NodeProcess[]
  /** Starts node `i` again (or anew) on its storage, with the shared arguments plus `extra`. */
  spawn: (i: number, extra?: string[]) => NodeProcess
}

/**
 * Starts `count` node processes on a loopback DHT: node 0 founds a bevy and the others join it
 * with one invite. `argsOf(i)` adds per-node arguments. Members come back in start order.
 */
export async function startBevy (t: Teardown, dht: PrivateDht, count: number, argsOf: (i: number) => string[] = () => []): Promise<StartedBevy> {
  const dir = await tempDir(t)
  const spawn = (i: number, extra: string[] = []) => nodeProcess(t, nodeArgs(join(dir, `n${i}`), dht, [...argsOf(i), ...extra]))
  const procs = [spawn(0)]
  const founder = await memberOf(await readyWithin(procs[0]!))
  if (count > 1) {
    const { invite } = await api<{ invite: string }>(founder, 'POST', '/api/invites', { uses: count - 1 })
    for (let i = 1; i < count; i++) procs.push(spawn(i, ['--join', invite]))
  }
  const rest = await Promise.all(procs.slice(1).map(async (p) => await memberOf(await readyWithin(p))))
  return { members: [founder, ...rest], procs, spawn }
}

/** A ready node as tests address it, with its admin token read from its storage. */
export async function memberOf (ready: ReadyMessage): Promise<Member> {
  const token = (await readFile(join(ready.storage, 'admin.token'), 'utf8')).trim()
  return { id: ready.id, url: ready.url, token, storage: ready.storage }
}

/**
 * A founder Bevy in this process with its HTTP app (for inject or listen), on `dht`, with
 * liveness windows long enough that nothing times out while a test pokes at it. `appOpts` adds
 * to (or replaces) the app's options, given the node.
 */
export async function inProcessNode (t: Teardown, dht: PrivateDht, appOpts: (bevy: Bevy) => Partial<Omit<AppOptions, 'bevy'>> = () => ({})): Promise<{ bevy: Bevy, app: FastifyInstance }> {
  const bevy = new Bevy({
    config: defaultConfig({ storage: await tempDir(t), bootstrap: parseBootstrap(dht.bootstrap), heartbeatIntervalMs: 60_000, suspectAfterMs: 120_000, downAfterMs: 240_000 }),
    url: 'http://127.0.0.1:7420'
  })
  onTeardown(t, () => bevy.close())
  const app = buildApp({ bevy, adminToken: () => bevy.adminToken, ...appOpts(bevy) })
  onTeardown(t, () => app.close())
  await bevy.ready()
  return { bevy, app }
}

/** A client connection read by hand: whole answers by content-length, heads, or a count of bytes. */
export function rawConnection (t: Teardown, port: number) {
  const socket = net.connect(port, '127.0.0.1')
  onTeardown(t, () => { socket.destroy() })
  let buffered = Buffer.alloc(0)
  let waiting: (() => void) | null = null
  socket.on('data', (d: Buffer) => { buffered = Buffer.concat([buffered, d]); waiting?.() })
  socket.on('error', () => {})
  /** Takes `take(buffered)` bytes off the front once it is not null. */
  const next = (take: (b: Buffer) => number | null): Promise<Buffer> => new Promise((resolve, reject) => {
    socket.once('close', () => reject(new Error('the connection closed')))
    const check = () => {
      const n = take(buffered)
      if (n === null) return
      waiting = null
      const out = buffered.subarray(0, n)
      buffered = buffered.subarray(n)
      resolve(out)
    }
    waiting = check
    check()
  })
  const headEnd = (b: Buffer) => { const i = b.indexOf('\r\n\r\n'); return i === -1 ? null : i + 4 }
  return {
    write: (data: string | Buffer) => socket.write(data),
    head: async () => (await next(headEnd)).toString('latin1'),
    bytes: (n: number) => next((b) => b.length >= n ? n : null),
    response: async () => {
      const head = (await next(headEnd)).toString('latin1')
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
      return { head, body: await next((b) => b.length >= length ? length : null) }
    }
  }
}
