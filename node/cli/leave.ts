// `bevy leave`: drains this node, waits while its replicas are handed off (make-before-break),
// then writes its leave op; the node stops by itself once it has left.
import { Command } from 'commander'
import { SingleBar } from 'cli-progress'
import { BevyError, ErrorCode } from '../../protocol/index.js'
import type { StatusReport } from '../status.js'
import { adminRequest, resolveTarget, type AdminTarget } from './admin-client.js'
import { adminOptions, option, parseDuration } from './options.js'

type LeaveOpts = { storage: string, url?: string, token?: string, timeout: string }

const POLL_MS = 500

export function leaveCommand (): Command {
  const cmd = new Command('leave').description('drain this node, wait for the handoff of its replicas, then leave the bevy (the node then stops)')
  adminOptions(cmd)
  option(cmd, '--timeout <duration>', 'give up if the handoff takes longer (the node stays drained; run again to go on)', '1h')
  cmd.action(async (opts: LeaveOpts) => {
    const timeoutMs = parseDuration(opts.timeout, '--timeout')
    const target = await resolveTarget(opts)
    const status = await adminRequest<StatusReport>(target, 'GET', '/api/status')
    const self = status.nodes.find((n) => n.id === status.node.id)
    if (status.node.replicasHeld > 0 && !status.nodes.some((n) => n.id !== status.node.id && n.state === 'live')) {
      throw new BevyError(ErrorCode.STILL_HOLDING, `no other live node can take this node's ${status.node.replicasHeld} replicas; add a node first`)
    }
    if (self?.state !== 'draining') await adminRequest(target, 'POST', `/api/nodes/${status.node.id}/drain`)
    await waitForHandoff(target, status.node.replicasHeld, timeoutMs)
    await adminRequest(target, 'POST', '/api/leave')
    process.stdout.write(`node ${status.node.id} left the bevy and is stopping\n`)
  })
  return cmd
}

async function waitForHandoff (target: AdminTarget, initial: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const bar = process.stderr.isTTY ? new SingleBar({ format: 'handing off replicas [{bar}] {value}/{total}', stream: process.stderr }) : null
  let total = Math.max(initial, 0)
  bar?.start(total, 0)
  let lastLogged = -1
  try {
    for (;;) {
      const { node } = await adminRequest<StatusReport>(target, 'GET', '/api/status')
      total = Math.max(total, node.replicasHeld)
      bar?.setTotal(total)
      bar?.update(total - node.replicasHeld)
      if (bar === null && node.replicasHeld !== lastLogged) {
        process.stderr.write(`waiting for ${node.replicasHeld} replica${node.replicasHeld === 1 ? '' : 's'} to be handed off\n`)
        lastLogged = node.replicasHeld
      }
      if (node.replicasHeld === 0) return
      if (Date.now() > deadline) {
        throw new BevyError(ErrorCode.STILL_HOLDING, `${node.replicasHeld} replicas were still being handed off after ${timeoutMs} ms; the node stays drained, run \`bevy leave\` again to go on`)
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  } finally {
    bar?.stop()
  }
}
