// Admission by invite, over blind-pairing. The invite's public key, expiry and use count live in
// the view, so any member (not only the one that made it) can admit its holder. The candidate
// sends its Autobase writer key as userData; a member checks the invite and appends add-writer.
import BlindPairing, { type MemberRequest } from 'blind-pairing'
import * as z32 from 'z32'
import type { Logger } from 'pino'
import {
  BevyError, decodeRecord, ErrorCode, formatKey, inviteRecordCodec, OpType, prefixEnd, ViewKey,
  writerRecordCodec, type Clock
} from '../protocol/index.js'
import type { ClusterBase } from './cluster-base.js'

// blind-pairing's reply status codes.
const DENY_REJECTED = 1
const DENY_USED = 2
const DENY_EXPIRED = 3

export interface Invite { text: string, id: Buffer, expiresMs: number, uses: number }

export interface ParsedInvite { bytes: Buffer, discoveryKey: Buffer, expiresMs: number }

export function parseInvite (text: unknown, nowMs: number): ParsedInvite {
  if (typeof text !== 'string' || text.trim().length === 0) throw new BevyError(ErrorCode.BAD_INVITE, 'invite is empty')
  let bytes: Buffer
  let decoded: ReturnType<typeof BlindPairing.decodeInvite>
  try {
    bytes = z32.decode(text.trim())
    decoded = BlindPairing.decodeInvite(bytes)
  } catch (err) {
    throw new BevyError(ErrorCode.BAD_INVITE, 'invite is not valid (garbled or truncated?)', { cause: err })
  }
  if (decoded.expires !== 0 && decoded.expires <= nowMs) {
    throw new BevyError(ErrorCode.INVITE_EXPIRED, `invite expired at ${new Date(decoded.expires).toISOString()}`)
  }
  return { bytes, discoveryKey: decoded.discoveryKey, expiresMs: decoded.expires }
}

/** The id an invite is known by in the view, from its text (expired or not). */
export function inviteIdOf (text: unknown): Buffer {
  if (typeof text !== 'string' || text.trim().length === 0) throw new BevyError(ErrorCode.BAD_INVITE, 'invite is empty')
  try {
    return BlindPairing.decodeInvite(z32.decode(text.trim())).id
  } catch (err) {
    throw new BevyError(ErrorCode.BAD_INVITE, 'invite is not valid (garbled or truncated?)', { cause: err })
  }
}

/** Creates an invite and records it in the view so any member can honour it. */
export async function createInvite (cluster: ClusterBase, bevyKey: Buffer, clock: Clock, opts: { ttlMs: number, uses: number }): Promise<Invite> {
  const expiresMs = clock.now() + opts.ttlMs
  const created = BlindPairing.createInvite(bevyKey, { expires: expiresMs })
  await cluster.append({ type: OpType.INVITE, inviteId: created.id, publicKey: created.publicKey, expiresMs, uses: opts.uses })
  return { text: z32.encode(created.invite), id: created.id, expiresMs, uses: opts.uses }
}

/**
 * The member side: answers pairing requests for invites found in the view, admitting the
 * candidate to the log this node writes to now (`current`), and answering with the bevy key.
 */
export function memberHandler (current: () => ClusterBase | null, bevyKey: Buffer, clock: Clock, log: Logger, onAdmitted: (nodeId: Buffer) => void) {
  return async (request: MemberRequest): Promise<void> => {
    const cluster = current()
    if (cluster === null) return
    const inviteBytes = await cluster.view.get(ViewKey.invite(request.inviteId))
    if (inviteBytes === null) return // not one of ours (yet): stay silent, another member may know it
    const invite = decodeRecord(inviteRecordCodec, inviteBytes)
    const candidate = parseCandidate(request.open(invite.publicKey))
    if (await cluster.view.get(ViewKey.inviteRevoked(request.inviteId)) !== null) return request.deny({ status: DENY_REJECTED })
    if (invite.expiresMs <= clock.now()) return request.deny({ status: DENY_EXPIRED })
    if (candidate === null) return request.deny({ status: DENY_REJECTED })
    const alreadyWriter = await cluster.view.get(ViewKey.writer(candidate.writerKey))
    if (alreadyWriter === null) {
      if (await countUses(cluster, request.inviteId) >= invite.uses) return request.deny({ status: DENY_USED })
      await cluster.append({ type: OpType.ADD_WRITER, key: candidate.writerKey, inviteId: request.inviteId })
      log.info({ writer: formatKey(candidate.writerKey) }, 'admitted a node by invite')
    } else if (!decodeRecord(writerRecordCodec, alreadyWriter).inviteId.equals(request.inviteId)) {
      return request.deny({ status: DENY_REJECTED })
    }
    if (candidate.nodeId !== null) onAdmitted(candidate.nodeId)
    request.confirm({ key: bevyKey })
  }
}

/**
 * What a candidate sends: its writer key, then its node id (the members' swarm key), so the
 * member can let it connect before it announces. A bare writer key is an older candidate.
 */
function parseCandidate (userData: Buffer | null): { writerKey: Buffer, nodeId: Buffer | null } | null {
  if (userData === null) return null
  if (userData.byteLength === 32) return { writerKey: userData, nodeId: null }
  if (userData.byteLength === 64) return { writerKey: userData.subarray(0, 32), nodeId: userData.subarray(32) }
  return null
}

async function countUses (cluster: ClusterBase, inviteId: Buffer): Promise<number> {
  const prefix = ViewKey.inviteUsePrefix(inviteId)
  let n = 0
  for await (const _ of cluster.view.range(prefix, prefixEnd(prefix))) n++
  return n
}

/** The candidate side: pairs with an invite and resolves to the bevy key. `userData` is the writer key and node id. */
export async function pairWithInvite (pairing: BlindPairing, invite: ParsedInvite, userData: Buffer, timeoutMs: number): Promise<Buffer> {
  const candidate = pairing.addCandidate({ invite: invite.bytes, userData })
  let timer: NodeJS.Timeout | undefined
  const failed = new Promise<never>((_resolve, reject) => {
    candidate.request.on('rejected', (err: Error & { code?: string }) => reject(rejection(err)))
    timer = setTimeout(() => reject(new BevyError(ErrorCode.PAIRING_TIMEOUT, `no member of the bevy answered the invite within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const result = await Promise.race([candidate.pairing, failed])
    if (result === null) throw new BevyError(ErrorCode.PAIRING_TIMEOUT, 'pairing was cancelled')
    return result.key
  } finally {
    clearTimeout(timer)
    await candidate.close()
  }
}

function rejection (err: Error & { code?: string }): BevyError {
  if (err.code === 'INVITE_USED') return new BevyError(ErrorCode.INVITE_USED, 'invite has been used up')
  if (err.code === 'INVITE_EXPIRED') return new BevyError(ErrorCode.INVITE_EXPIRED, 'invite has expired')
  return new BevyError(ErrorCode.INVITE_REJECTED, 'the bevy refused this invite', { cause: err })
}
