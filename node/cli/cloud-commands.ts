// `bevy cloud add|ls|show|rm|create|token`, `bevy drain|undrain` and `bevy remove`: clients of the admin API.
import Table from 'cli-table3'
import { Command } from 'commander'
import { formatKey, MAX_REPLICAS, parseKey } from '../../protocol/index.js'
import type { CloudInfo } from '../bevy.js'
import { parseIntSetting } from '../config.js'
import { adminRequest, resolveTarget } from './admin-client.js'
import { formatBytes } from './admin-commands.js'
import { adminOptions, option } from './options.js'

type AdminOpts = { storage: string, url?: string, token?: string }
type JsonOpts = AdminOpts & { json?: boolean | string }

const wantsJson = (opts: JsonOpts) => opts.json === true || opts.json === 'true'
const print = (text: string): void => { process.stdout.write(text + "\n") }

export function cloudCommand (): Command {
  const cmd = new Command('cloud').description('register, list, inspect and remove clouds')

  const add = adminOptions(new Command('add').description('register an existing Hyperdrive as a cloud').argument('<key>', 'the drive key (z-base-32 or hex)'))
  option(add, '--replicas <n>', `replicas to keep, 1 to ${MAX_REPLICAS}`, '3')
  option(add, '--json', 'print JSON', false)
  add.action(async (keyText: string, opts: JsonOpts & { replicas: string }) => {
    const key = formatKey(parseKey(keyText, 'cloud key'))
    const replicas = parseIntSetting('replicas', opts.replicas, 1, MAX_REPLICAS)
    const info = await adminRequest<CloudInfo>(await resolveTarget(opts), 'POST', '/api/clouds', { key, replicas })
    print(wantsJson(opts) ? JSON.stringify(info, null, 2) : `cloud ${info.key} registered with ${info.replicas} replicas`)
  })

  const ls = adminOptions(new Command('ls').description('list the clouds'))
  option(ls, '--json', 'print JSON', false)
  ls.action(async (opts: JsonOpts) => {
    const { clouds } = await adminRequest<{ clouds: CloudInfo[] }>(await resolveTarget(opts), 'GET', '/api/clouds')
    if (wantsJson(opts)) return print(JSON.stringify(clouds, null, 2))
    if (clouds.length === 0) return print('no clouds yet: add one with `bevy cloud add KEY`')
    const table = new Table({ head: ['cloud', 'replicas', 'placed', 'synced'], style: { head: [], border: [] } })
    for (const c of clouds) {
      const targets = c.placement.filter((r) => r.role === 'target')
      table.push([c.key, String(c.replicas), String(targets.length), String(targets.filter((r) => r.synced).length)])
    }
    print(table.toString())
  })

  const show = adminOptions(new Command('show').description("show a cloud's replica set").argument('<key>', 'the cloud key'))
  option(show, '--json', 'print JSON', false)
  show.action(async (keyText: string, opts: JsonOpts) => {
    const key = formatKey(parseKey(keyText, 'cloud key'))
    const info = await adminRequest<CloudInfo>(await resolveTarget(opts), 'GET', `/api/clouds/${key}`)
    if (wantsJson(opts)) return print(JSON.stringify(info, null, 2))
    const table = new Table({ head: ['node', 'url', 'role', 'state', 'synced', 'progress', 'data', 'version', 'peers'], style: { head: [], border: [] } })
    for (const r of info.placement) {
      table.push([r.node, r.url ?? '-', r.role, r.state, r.synced ? 'yes' : 'no', `${Math.floor(r.progress * 100)}%`,
        `${formatBytes(r.bytes.had)} / ${formatBytes(r.bytes.total)}`, String(r.version), String(r.peers)])
    }
    print(`cloud ${info.key}, ${info.replicas} replicas\n${table.toString()}`)
  })

  const rm = adminOptions(new Command('rm').description('remove a cloud (its replicas are let go)').argument('<key>', 'the cloud key'))
  rm.action(async (keyText: string, opts: AdminOpts) => {
    const key = formatKey(parseKey(keyText, 'cloud key'))
    await adminRequest(await resolveTarget(opts), 'DELETE', `/api/clouds/${key}`)
    print(`cloud ${key} removed`)
  })

  const create = adminOptions(new Command('create').description('create a hosted (multi-writer) cloud: it takes writes (PUT, DELETE) at any of its replicas'))
  option(create, '--replicas <n>', `replicas to keep, 1 to ${MAX_REPLICAS}`, '3')
  option(create, '--json', 'print JSON', false)
  create.action(async (opts: JsonOpts & { replicas: string }) => {
    const replicas = parseIntSetting('replicas', opts.replicas, 1, MAX_REPLICAS)
    const info = await adminRequest<CloudInfo & { token: string }>(await resolveTarget(opts), 'POST', '/api/clouds', { hosted: true, replicas })
    if (wantsJson(opts)) return print(JSON.stringify(info, null, 2))
    print(`hosted cloud ${info.key} created with ${info.replicas} replicas (base key for devices: ${info.base ?? '-'})`)
    print(`write token (shown once; \`bevy cloud token ${info.key}\` makes a new one): ${info.token}`)
    print(`write with: curl -X PUT -H 'Authorization: Bearer <token>' --data-binary @FILE <node url>/c/${info.key}/<path>`)
  })

  const token = adminOptions(new Command('token').description('make a new write token for a hosted cloud (the old one stops working)').argument('<key>', 'the cloud key'))
  option(token, '--json', 'print JSON', false)
  token.action(async (keyText: string, opts: JsonOpts) => {
    const key = formatKey(parseKey(keyText, 'cloud key'))
    const out = await adminRequest<{ key: string, token: string }>(await resolveTarget(opts), 'POST', `/api/clouds/${key}/token`)
    print(wantsJson(opts) ? JSON.stringify(out, null, 2) : out.token)
  })

  const deviceCommand = (allow: boolean, name = allow ? 'authorize' : 'deauthorize', description = allow ? 'let an owner device write to a hosted cloud over P2P (its key: `bevy device key`)' : 'take back an owner device\'s right to write; what it writes later is ignored'): Command => {
    const sub = adminOptions(new Command(name)
      .description(description)
      .argument('<key>', 'the cloud key').argument('<device>', 'the device\'s writer key'))
    sub.action(async (keyText: string, deviceText: string, opts: AdminOpts) => {
      const key = formatKey(parseKey(keyText, 'cloud key'))
      const device = formatKey(parseKey(deviceText, 'device key'))
      const target = await resolveTarget(opts)
      if (allow) await adminRequest(target, 'POST', `/api/clouds/${key}/devices`, { device })
      else await adminRequest(target, 'DELETE', `/api/clouds/${key}/devices/${device}`)
      print(`device ${device} ${allow ? 'authorized' : 'deauthorized'} for cloud ${key}`)
    })
    return sub
  }

  const approve = deviceCommand(true, 'approve', 'approve a device that asked to write (`bevy device request`): the same as authorize')

  const requests = adminOptions(new Command('requests').description('list the devices that asked this node to write to a hosted cloud').argument('<key>', 'the cloud key'))
  option(requests, '--json', 'print JSON', false)
  requests.action(async (keyText: string, opts: JsonOpts) => {
    const key = formatKey(parseKey(keyText, 'cloud key'))
    const out = await adminRequest<{ requests: Array<{ device: string, label: string, ageMs: number }> }>(await resolveTarget(opts), 'GET', `/api/clouds/${key}/requests`)
    if (wantsJson(opts)) return print(JSON.stringify(out.requests, null, 2))
    if (out.requests.length === 0) return print('no pending requests on this node (a device asks the replicas it reaches)')
    const table = new Table({ head: ['device', 'label', 'asked'], style: { head: [], border: [] } })
    for (const r of out.requests) table.push([r.device, r.label, `${Math.round(r.ageMs / 1000)}s ago`])
    print(table.toString())
  })

  for (const sub of [add, ls, show, rm, create, token, deviceCommand(true), deviceCommand(false), approve, requests]) cmd.addCommand(sub)
  return cmd
}

export function drainCommand (drain: boolean): Command {
  const name = drain ? 'drain' : 'undrain'
  const cmd = adminOptions(new Command(name)
    .description(drain ? 'move every replica off a node (each kept until its successor is synced)' : 'let a drained node take replicas again')
    .argument('<node>', 'the node id (z-base-32 or hex)'))
  cmd.action(async (nodeText: string, opts: AdminOpts) => {
    const node = formatKey(parseKey(nodeText, 'node id'))
    await adminRequest(await resolveTarget(opts), drain ? 'POST' : 'DELETE', `/api/nodes/${node}/drain`)
    print(`node ${node} ${drain ? 'draining' : 'undrained'}`)
  })
  return cmd
}

export function removeCommand (): Command {
  const cmd = adminOptions(new Command('remove')
    .description('evict a node for good: its writer is removed, its connections refused and its replicas move (it must wipe its storage to join again)')
    .argument('<node>', 'the node id (z-base-32 or hex)'))
  cmd.action(async (nodeText: string, opts: AdminOpts) => {
    const node = formatKey(parseKey(nodeText, 'node id'))
    await adminRequest(await resolveTarget(opts), 'DELETE', `/api/nodes/${node}`)
    print(`node ${node} evicted`)
  })
  return cmd
}
