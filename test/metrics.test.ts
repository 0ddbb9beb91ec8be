// /metrics on real node processes: a two-node bevy with one cloud on one replica. The node without
// the cloud redirects its requests, and its scrape (Prometheus text, checked line by line and by a
// parser) counts them; the replica reports the bytes it downloaded from the owner.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format'
import type { CloudInfo } from '../node/bevy.js'
import { api, loopbackDht, type Member, seedDrives, startBevy, waitFor } from './helpers.js'

const NODES = 2
const REDIRECTS = 5

// The text exposition format, line by line: comments (HELP, TYPE, others) and samples,
// `name{label="value",...} value [timestamp]`.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
// Special values in any case, as Prometheus reads them (Go's ParseFloat): prom-client writes NaN as "Nan".
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?[iI][nN][fF]|[nN][aA][nN])'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ${VALUE}(?: -?\\d+)?$`)
const HELP = new RegExp(`^# HELP (${NAME}) .*$`)
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)

interface Scrape { text: string, families: Map<string, PrometheusFamily> }

async function scrape (m: Member): Promise<Scrape> {
  const res = await fetch(`${m.url}/metrics`, { headers: { authorization: `Bearer ${m.token}` } })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  return { text, families: new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f])) }
}

/** Every line is a comment, a sample or blank, each family is typed once, and samples follow their TYPE. */
function assertExpositionFormat (text: string): void {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline')
  const typed = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = TYPE.exec(line)
    if (type !== null) {
      assert.ok(!typed.has(type[1]!), `a second TYPE line for ${type[1]}`)
      typed.set(type[1]!, type[2]!)
      continue
    }
    if (HELP.test(line) || (line.startsWith('#') && !line.startsWith('# HELP') && !line.startsWith('# TYPE'))) continue
    const sample = SAMPLE.exec(line)
    assert.ok(sample !== null, `not a Prometheus sample line: ${JSON.stringify(line)}`)
    const name = sample[1]!
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count|total|created)$/, '')
    assert.ok(typed.has(family), `sample ${name} before (or without) its TYPE line`)
  }
}

function family (s: Scrape, name: string, type: PrometheusFamily['type']): PrometheusFamily {
  const found = s.families.get(name)
  assert.ok(found !== undefined, `no ${name} in the scrape`)
  assert.equal(found.type, type, `${name} is a ${type.toLowerCase()}`)
  return found
}

/** The value of the sample of `name` whose labels include `labels`. */
function sample (s: Scrape, name: string, type: PrometheusFamily['type'], labels: Record<string, string> = {}): number {
  const found = family(s, name, type).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  assert.ok(found?.value !== undefined, `no ${name} sample with ${JSON.stringify(labels)}`)
  return Number(found.value)
}

function histogramCount (s: Scrape, name: string): number {
  const [only] = family(s, name, 'HISTOGRAM').metrics
  assert.ok(only?.count !== undefined && only.buckets !== undefined, `${name} has a count and buckets`)
  assert.equal(only.buckets['+Inf'], only.count, 'the +Inf bucket holds every observation')
  return Number(only.count)
}

test('/metrics is Prometheus text, and a node\'s redirects move its counters', { timeout: 180_000 }, async (t) => {
  const dht = await loopbackDht(t)
  const { members } = await startBevy(t, dht, NODES)
  const { keys: [key] } = await seedDrives(t, dht, 1)
  await api(members[0]!, 'POST', '/api/clouds', { key, replicas: 1 })

  const holder = await waitFor('the cloud\'s one replica to sync', async () => {
    const info = await api<CloudInfo>(members[0]!, 'GET', `/api/clouds/${key}`)
    const synced = info.placement.filter((r) => r.role === 'target' && r.synced)
    return synced.length === 1 ? members.find((m) => m.id === synced[0]!.node) : undefined
  }, 120_000, 200)
  assert.ok(holder !== undefined, 'the replica is one of the nodes')
  // A node whose own view of the placement leaves it out: it has no copy and must send clients on.
  const outsider = await waitFor('a node that sees the replica synced elsewhere', async () => {
    for (const m of members) {
      const info = await api<CloudInfo>(m, 'GET', `/api/clouds/${key}`)
      if (info.placement.every((r) => r.node !== m.id) && info.placement.some((r) => r.node === holder.id && r.synced)) return m
    }
    return undefined
  }, 60_000, 200)
  const file = `${outsider.url}/c/${key}/index.html`
  await waitFor('the outsider to redirect to the replica', async () => {
    const res = await fetch(file, { redirect: 'manual' })
    return res.status === 307 ? true : undefined
  }, 60_000, 200)

  await t.test('without the admin token: 401', async () => {
    const res = await fetch(`${outsider.url}/metrics`)
    assert.equal(res.status, 401)
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED')
    const wrong = await fetch(`${outsider.url}/metrics`, { headers: { authorization: 'Bearer nope' } })
    assert.equal(wrong.status, 401)
  })

  await t.test('the scrape is valid exposition text with the families the issue names', async () => {
    for (const m of members) {
      const s = await scrape(m)
      assertExpositionFormat(s.text)
      assert.ok(s.families.size > 0)
      assert.deepEqual(family(s, 'bevy_nodes', 'GAUGE').metrics.map((x) => x.labels?.state).sort(), ['down', 'draining', 'left', 'live', 'suspect'])
      assert.deepEqual(family(s, 'bevy_router_requests_total', 'COUNTER').metrics.map((x) => x.labels?.outcome).sort(), ['proxied', 'redirected', 'served', 'unavailable'])
      histogramCount(s, 'bevy_http_request_duration_seconds')
      assert.equal(sample(s, 'bevy_clouds', 'GAUGE'), 1)
      assert.ok(sample(s, 'bevy_clouds_under_replicated', 'GAUGE') >= 0)
      assert.ok(sample(s, 'bevy_sync_bytes_total', 'COUNTER') >= 0)
      assert.ok(sample(s, 'bevy_view_length', 'GAUGE') > 0, 'the view has blocks')
      assert.ok(sample(s, 'bevy_disk_bytes', 'GAUGE') > 0, 'the storage directory is measured')
    }
  })

  await t.test(`every node counts the ${NODES} live nodes, and the synced cloud is not under-replicated`, async () => {
    for (const m of members) {
      await waitFor(`${m.url} to see ${NODES} live nodes and a fully replicated cloud`, async () => {
        const s = await scrape(m)
        return sample(s, 'bevy_nodes', 'GAUGE', { state: 'live' }) === NODES && sample(s, 'bevy_clouds_under_replicated', 'GAUGE') === 0 ? true : undefined
      }, 30_000, 200)
      const s = await scrape(m)
      assert.equal(sample(s, 'bevy_nodes', 'GAUGE', { state: 'live' }), NODES)
      for (const state of ['suspect', 'down', 'draining', 'left']) assert.equal(sample(s, 'bevy_nodes', 'GAUGE', { state }), 0, state)
    }
  })

  await t.test('the replica counts the bytes it downloaded from the owner', async () => {
    const s = await scrape(holder)
    assert.ok(sample(s, 'bevy_sync_bytes_total', 'COUNTER') > 0, 'bevy_sync_bytes_total > 0 on the replica')
  })

  await t.test(`${REDIRECTS} redirected requests move the outsider's redirect counter and latency histogram`, async () => {
    const before = await scrape(outsider)
    const redirected = sample(before, 'bevy_router_requests_total', 'COUNTER', { outcome: 'redirected' })
    const served = sample(before, 'bevy_router_requests_total', 'COUNTER', { outcome: 'served' })
    const observed = histogramCount(before, 'bevy_http_request_duration_seconds')
    for (let i = 0; i < REDIRECTS; i++) {
      const res = await fetch(file, { redirect: 'manual' })
      assert.equal(res.status, 307)
      assert.equal(new URL(res.headers.get('location')!).origin, new URL(holder.url).origin, 'sent to the replica')
    }
    const after = await scrape(outsider)
    assertExpositionFormat(after.text)
    const grew = sample(after, 'bevy_router_requests_total', 'COUNTER', { outcome: 'redirected' }) - redirected
    assert.ok(grew >= REDIRECTS, `redirected grew by ${grew}, expected at least ${REDIRECTS}`)
    assert.equal(sample(after, 'bevy_router_requests_total', 'COUNTER', { outcome: 'served' }), served, 'the outsider served nothing itself')
    const timed = histogramCount(after, 'bevy_http_request_duration_seconds') - observed
    assert.ok(timed >= REDIRECTS, `the latency histogram counted ${timed} more requests, expected at least ${REDIRECTS}`)

    // The replica counts what it serves: the client following the redirect lands there.
    const servedBefore = sample(await scrape(holder), 'bevy_router_requests_total', 'COUNTER', { outcome: 'served' })
    const followed = await fetch(file)
    assert.equal(followed.status, 200)
    assert.equal(await followed.text(), '<h1>cloud 0</h1>')
    assert.ok(sample(await scrape(holder), 'bevy_router_requests_total', 'COUNTER', { outcome: 'served' }) >= servedBefore + 1, 'the replica counted the request it served')
  })
})
