// Bad input never hurts: 2,000 random requests (seeded; BEVY_FUZZ_SEED replays a run) against a
// real node process serving a real cloud. Every answer must be a clean one: no 5xx but 502, 503
// and 504, no stack trace, every JSON error parsing into {"error":{"code"}}, every small request
// answered; and afterwards the node is alive and healthy.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { formatKey } from '../protocol/index.js'
import { api, loopbackDht, seedDrives, startBevy, waitFor } from './helpers.js'
import { describe, headBytes, requestArbitrary, send, type FuzzOutcome, type FuzzRequest } from './http-fuzz-requests.js'

const SEED = Number(process.env.BEVY_FUZZ_SEED ?? 0x5eed_b0b)
const RUNS = 2000
const CONCURRENCY = 8
/** A request stuck this long is a defect in itself (nothing here waits on another node). */
const REQUEST_TIMEOUT_MS = 15_000
/** Requests this small must get an answer; larger ones may have their connection cut (431, 413). */
const ANSWERED_HEAD_BYTES = 8000
const ANSWERED_BODY_BYTES = 64 * 1024

const STACK_TRACE = /\bat .+\(.*:\d+:\d+\)|node:internal/

test('HTTP fuzz: random requests never hurt a node', async (t) => {
  t.diagnostic(`seed ${SEED} (replay with BEVY_FUZZ_SEED=${SEED})`)
  const dht = await loopbackDht(t)
  const owner = await seedDrives(t, dht, 1)
  // Auth limiting has its own test; here it would turn every admin request into 429 after 20.
  const { members, procs } = await startBevy(t, dht, 1, () => ['--auth-failure-burst', '1000000'])
  const node = members[0]!
  const seeded = owner.keys[0]!
  const unseeded = formatKey(randomBytes(32))
  await api(node, 'POST', '/api/clouds', { key: seeded, replicas: 1 })
  await api(node, 'POST', '/api/clouds', { key: unseeded, replicas: 1 })
  await waitFor('the seeded cloud to be served', async () => (await fetch(`${node.url}/c/${seeded}/index.html`)).status === 200 ? true : undefined, 60_000)

  const requests = fc.sample(requestArbitrary({ clouds: [seeded, unseeded, formatKey(randomBytes(32))], nodeId: node.id, token: node.token }), { seed: SEED, numRuns: RUNS })
  const base = new URL(node.url)
  const outcomes: Array<{ request: FuzzRequest, outcome: FuzzOutcome }> = []
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.length) {
      const request = requests[next++]!
      outcomes.push({ request, outcome: await send(base, request, REQUEST_TIMEOUT_MS) })
    }
  }))

  const problems: string[] = []
  const tally = new Map<string, number>()
  for (const { request, outcome } of outcomes) {
    const label = outcome.kind === 'response' ? `${outcome.status}${errorCodeOf(outcome.body)}` : `${outcome.kind}${'code' in outcome ? ' ' + outcome.code : ''}`
    tally.set(label, (tally.get(label) ?? 0) + 1)
    for (const problem of check(request, outcome)) problems.push(`${problem}: ${describe(request)}`)
  }
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`)
  assert.equal(outcomes.length, RUNS)
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} bad answers (seed ${SEED})`)

  const health = await fetch(`${node.url}/api/health`)
  assert.equal(health.status, 200)
  assert.deepEqual(await health.json(), { ok: true })
  const proc = procs[0]!
  assert.equal(proc.child.exitCode, null, 'the node process is still running')
  assert.equal(proc.child.signalCode, null)
  assert.equal((await fetch(`${node.url}/c/${seeded}/index.html`)).status, 200, 'and still serves its cloud')
  assert.doesNotMatch(proc.output(), /unhandled error/, 'no request reached the 500 path')
  // No connection was left open: a stop finishes without cutting any after the grace period.
  let cut: NodeJS.Timeout | undefined
  const hung = new Promise<string>((resolve) => { cut = setTimeout(() => resolve('still running 30 s after SIGTERM'), 30_000) })
  assert.equal(await Promise.race([proc.stop('SIGTERM'), hung]), 0)
  clearTimeout(cut)
  assert.doesNotMatch(proc.output(), /still in flight after the grace period/)
})

/** What is wrong with one answer, if anything. */
function check (request: FuzzRequest, outcome: FuzzOutcome): string[] {
  if (outcome.kind === 'rejected') return []
  if (outcome.kind === 'timeout') return ['no answer in time']
  if (outcome.kind === 'error') {
    const small = headBytes(request) < ANSWERED_HEAD_BYTES && (request.body?.length ?? 0) <= ANSWERED_BODY_BYTES
    return small ? [`connection failed (${outcome.code}) on a small request`] : []
  }
  const problems: string[] = []
  const { status, headers, body } = outcome
  if (status >= 500 && ![502, 503, 504].includes(status)) problems.push(`status ${status}`)
  const text = body.toString('latin1')
  if (STACK_TRACE.test(text)) problems.push('a stack trace in the body')
  const json = String(headers['content-type'] ?? '').includes('application/json')
  if (status >= 400 && body.length > 0) {
    if (!json) problems.push(`status ${status} with content-type ${String(headers['content-type'])}`)
    else {
      try {
        const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown } }
        if (typeof parsed.error?.code !== 'string') problems.push(`status ${status} without error.code: ${text.slice(0, 120)}`)
      } catch {
        problems.push(`status ${status} JSON that does not parse: ${text.slice(0, 120)}`)
      }
    }
  }
  if ((status === 503 || status === 429) && headers['retry-after'] === undefined) problems.push(`${status} without Retry-After`)
  return problems
}

/** ' CODE' for a JSON error body, for the tally. */
function errorCodeOf (body: Buffer): string {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { error?: { code?: unknown } }).error?.code
    return typeof code === 'string' ? ' ' + code : ''
  } catch {
    return ''
  }
}
