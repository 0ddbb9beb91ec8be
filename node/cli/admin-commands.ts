// `bevy invite` and `bevy status`: thin clients of the admin API.
import Table from 'cli-table3'
import { Command } from 'commander'
import type { StatusReport } from '../status.js'
import { adminRequest, resolveTarget } from './admin-client.js'
import { adminOptions, option, parseDuration } from './options.js'
import { parseIntSetting } from '../config.js'

type AdminOpts = { storage: string, url?: string, token?: string }

export function inviteCommand (): Command {
  const cmd = new Command('invite').description('print a new invite for another machine to join with')
  adminOptions(cmd)
  option(cmd, '--ttl <duration>', 'how long the invite stays valid (e.g. 30m, 24h, 7d)', '24h')
  option(cmd, '--uses <n>', 'how many machines may join with it', '1')
  option(cmd, '--revoke <invite>', 'revoke this invite instead: no member admits anyone with it any more')
  cmd.action(async (opts: AdminOpts & { ttl: string, uses: string, revoke?: string }) => {
    if (opts.revoke !== undefined) {
      await adminRequest(await resolveTarget(opts), 'POST', '/api/invites/revoke', { invite: opts.revoke })
      process.stdout.write('invite revoked\n')
      return
    }
    const body = { ttlMs: parseDuration(opts.ttl, '--ttl'), uses: parseIntSetting('uses', opts.uses, 1, 10_000) }
    const reply = await adminRequest<{ invite: string }>(await resolveTarget(opts), 'POST', '/api/invites', body)
    process.stdout.write(reply.invite + '\n')
  })
  return cmd
}

export function statusCommand (): Command {
  const cmd = new Command('status').description('show the nodes of the bevy as this node sees them')
  adminOptions(cmd)
  option(cmd, '--json', 'print the raw JSON report', false)
  cmd.action(async (opts: AdminOpts & { json: boolean | string }) => {
    const report = await adminRequest<StatusReport>(await resolveTarget(opts), 'GET', '/api/status')
    if (opts.json === true || opts.json === 'true') {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n')
      return
    }
    process.stdout.write(formatStatus(report) + '\n')
  })
  return cmd
}

export function formatStatus (report: StatusReport): string {
  const table = new Table({ head: ['id', 'url', 'zone', 'state', 'cpu', 'mem', 'loop', 'heartbeat', 'clouds', 'data'], style: { head: [], border: [] } })
  for (const n of report.nodes) {
    const self = n.id === report.node.id ? ' *' : ''
    table.push([
      n.id.slice(0, 12) + '…' + self,
      n.url,
      n.zone,
      n.state,
      pct(n.load?.cpu),
      pct(n.load?.mem),
      pct(n.load?.eventLoop),
      n.heartbeatAgeMs === null ? '-' : `${(n.heartbeatAgeMs / 1000).toFixed(1)}s ago`,
      String(n.clouds),
      formatBytes(n.cloudBytes)
    ])
  }
  return `bevy ${report.bevy}\n${table.toString()}\n* this node (its storage uses ${formatBytes(report.node.diskBytes)} of disk). Full ids: bevy status --json`
}

/** 1536 → "1.5 KB": binary multiples, one decimal. */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

function pct (v: number | undefined): string {
  return v === undefined ? '-' : `${Math.round(v * 100)}%`
}
