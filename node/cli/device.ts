// `bevy device key|request|put`: an owner's device writing to a hosted cloud over P2P. `key` tells the
// writer key an operator authorizes (`bevy cloud authorize`); `put` writes a file once admitted.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { sign } from 'hypercore-crypto'
import { Command } from 'commander'
import { BevyError, ErrorCode, formatKey, parseKey, signedWriteMessage } from '../../protocol/index.js'
import { parseBootstrap } from '../config.js'
import { createLogger } from '../log.js'
import { OwnerDevice } from '../owner/owner-device.js'
import { DeviceAnswer } from '../hosted/device-requests.js'
import { keepFilesPrivate } from '../storage.js'
import { option, parseDuration } from './options.js'
import { DEFAULT_OWNER_STORAGE } from './push.js'

type DeviceOpts = { ownerStorage: string, bootstrap?: string, timeout: string, label?: string, via?: string, cloud?: string }

/** Tells the user, once, what the replicas answered to the device's request to write. */
function reportAnswers (): (status: number) => void {
  let told = -1
  return (status) => {
    if (status === told) return
    told = status
    process.stderr.write(status === DeviceAnswer.AUTHORIZED ? 'a replica says this device is authorized\n' : 'the request is with the replicas: an operator approves it with `bevy cloud approve`\n')
  }
}

export function deviceCommand (): Command {
  const cmd = new Command('device').description('write to a hosted cloud from an owner\'s device, over P2P')

  const key = new Command('key').description('print this device\'s writer key for a hosted cloud (authorize it with `bevy cloud authorize`)')
    .argument('<base>', 'the cloud\'s base key (`base` in `bevy cloud show KEY --json`)')
  option(key, '--owner-storage <dir>', 'where the device\'s keys live', DEFAULT_OWNER_STORAGE)
  key.action(async (baseText: string, opts: DeviceOpts) => {
    keepFilesPrivate()
    const device = new OwnerDevice({ storage: opts.ownerStorage, base: parseKey(baseText, 'base key'), bootstrap: null, online: false, log: createLogger({ level: 'warn' }) })
    try {
      await device.ready()
      process.stdout.write(formatKey(device.cloud.writerKey) + '\n')
    } finally {
      await device.close()
    }
  })

  const put = new Command('put').description('write a local file into a hosted cloud at PATH; waits until a replica holds it')
    .argument('<base>', 'the cloud\'s base key').argument('<file>', 'the local file').argument('<path>', 'where it goes in the cloud, e.g. /notes/today.txt')
  option(put, '--owner-storage <dir>', 'where the device\'s keys live', DEFAULT_OWNER_STORAGE)
  option(put, '--bootstrap <host:port,...>', 'private DHT bootstrap nodes (default: the public DHT)')
  option(put, '--timeout <duration>', 'give up after this long', '2m')
  option(put, '--via <url>', 'write over HTTP through this node, signed with the device\'s key, instead of over P2P (needs --cloud)')
  option(put, '--cloud <key>', 'the cloud key, for --via')
  put.action(async (baseText: string, file: string, path: string, opts: DeviceOpts) => {
    keepFilesPrivate()
    const base = parseKey(baseText, 'base key')
    const timeoutMs = parseDuration(opts.timeout, '--timeout')
    const info = await stat(file).catch(() => null)
    if (info === null || !info.isFile()) throw new BevyError(ErrorCode.BAD_REQUEST, `${file} is not a file`)
    if (opts.via !== undefined) return putOverHttp(base, file, path, opts, timeoutMs)
    const bootstrap = opts.bootstrap === undefined ? null : parseBootstrap(opts.bootstrap)
    const device = new OwnerDevice({ storage: opts.ownerStorage, base, bootstrap, online: true, log: createLogger({ level: 'warn' }) })
    try {
      await device.ready()
      process.stderr.write(`device ${formatKey(device.cloud.writerKey)}: waiting to be a writer of the cloud\n`)
      if (!device.cloud.writable) device.requestAuthorization(opts.label ?? 'bevy device put', reportAnswers())
      await device.waitAdmitted(timeoutMs)
      const written = await device.cloud.put(path, createReadStream(file), { maxBytes: Number.MAX_SAFE_INTEGER, ackTimeoutMs: timeoutMs, writableGraceMs: timeoutMs, nowMs: Date.now() })
      process.stdout.write(JSON.stringify(written) + '\n')
    } finally {
      await device.close()
    }
  })

  const request = new Command('request').description('ask a hosted cloud\'s replicas to let this device write, and wait for an operator\'s approval')
    .argument('<base>', 'the cloud\'s base key')
  option(request, '--label <text>', 'what the operator sees next to the request, e.g. "alice\'s laptop"', 'owner device')
  option(request, '--owner-storage <dir>', 'where the device\'s keys live', DEFAULT_OWNER_STORAGE)
  option(request, '--bootstrap <host:port,...>', 'private DHT bootstrap nodes (default: the public DHT)')
  option(request, '--timeout <duration>', 'give up after this long', '10m')
  request.action(async (baseText: string, opts: DeviceOpts) => {
    keepFilesPrivate()
    const timeoutMs = parseDuration(opts.timeout, '--timeout')
    const bootstrap = opts.bootstrap === undefined ? null : parseBootstrap(opts.bootstrap)
    const device = new OwnerDevice({ storage: opts.ownerStorage, base: parseKey(baseText, 'base key'), bootstrap, online: true, log: createLogger({ level: 'warn' }) })
    try {
      await device.ready()
      const keyText = formatKey(device.cloud.writerKey)
      process.stderr.write(`device ${keyText}: asking to write\n`)
      device.requestAuthorization(opts.label ?? 'owner device', reportAnswers())
      await device.waitAdmitted(timeoutMs)
      process.stdout.write(`${keyText} authorized\n`)
    } finally {
      await device.close()
    }
  })

  cmd.addCommand(key)
  cmd.addCommand(request)
  cmd.addCommand(put)
  return cmd
}

/** A signed PUT through a node's HTTP API: no P2P connection, the same authorization. */
async function putOverHttp (base: Buffer, file: string, path: string, opts: DeviceOpts, timeoutMs: number): Promise<void> {
  if (opts.cloud === undefined) throw new BevyError(ErrorCode.BAD_REQUEST, '--via needs --cloud <cloud key>')
  const cloud = parseKey(opts.cloud, 'cloud key')
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  const sha256 = hash.digest()
  const device = new OwnerDevice({ storage: opts.ownerStorage, base, bootstrap: null, online: false, log: createLogger({ level: 'warn' }) })
  let keyPair: { publicKey: Buffer, secretKey: Buffer }
  try {
    await device.ready()
    keyPair = await device.signingKeyPair()
  } finally {
    await device.close()
  }
  const timeMs = Date.now()
  const signature = sign(signedWriteMessage({ method: 'PUT', cloud, path, sha256, timeMs }), keyPair.secretKey)
  const url = `${(opts.via as string).replace(/\/$/, '')}/c/${formatKey(cloud)}${path.split('/').map(encodeURIComponent).join('/')}`
  const res = await fetch(url, {
    method: 'PUT',
    // A streamed body cannot follow a redirect: ask the node to proxy to the replica instead.
    headers: { 'x-bevy-route': 'proxy', 'x-bevy-device': formatKey(keyPair.publicKey), 'x-bevy-time': String(timeMs), 'x-bevy-content-sha256': sha256.toString('hex'), 'x-bevy-signature': signature.toString('base64') },
    body: Readable.toWeb(createReadStream(file)) as unknown as BodyInit,
    duplex: 'half',
    signal: AbortSignal.timeout(timeoutMs)
  } as RequestInit & { duplex: 'half' })
  const text = await res.text()
  if (res.status !== 201) throw new BevyError(ErrorCode.UPSTREAM_FAILED, `${res.status} ${text}`)
  process.stdout.write(text + '\n')
}
