// Cloud Bevy operator dashboard: a plain ES module, shipped as is (no build step, no framework).
// It signs in with the admin token (the server answers with an HttpOnly session cookie), follows
// GET /api/dashboard/stream (Server-Sent Events) and keeps the node, cloud and event views
// current by updating keyed rows in place, so focus and half-typed input survive each update.
// Server data (keys, URLs, messages) is untrusted: it reaches the page only through textContent
// and attributes, never as HTML.

const STREAM_URL = '/api/dashboard/stream'
const MAX_EVENTS = 50
/** The server sends state at least every 2 s; this long without any means the stream is stuck. */
const STALE_MS = 7000
const RETRY_MS = 2000
const DISARM_MS = 5000

const $ = (selector) => document.querySelector(selector)
const ui = {
  loading: $('#loading'),
  conn: $('#conn'),
  signout: $('#signout'),
  signinPanel: $('#signin-panel'),
  signin: $('#signin'),
  token: $('#token'),
  signinError: $('#signin-error'),
  dashboard: $('#dashboard'),
  summary: $('#summary'),
  actionStatus: $('#action-status'),
  nodes: $('#nodes tbody'),
  clouds: $('#clouds tbody'),
  cloudsEmpty: $('#clouds-empty'),
  addCloud: $('#add-cloud'),
  cloudKey: $('#cloud-key'),
  cloudReplicas: $('#cloud-replicas'),
  addError: $('#add-cloud-error'),
  events: $('#events'),
  eventsEmpty: $('#events-empty')
}

/** The last state the stream delivered: { status, clouds, events }. */
let latest = null
let stream = null
let lastStateAt = 0
let retryTimer = null
let watchdog = null

// ---------------------------------------------------------------- small helpers

function el (tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (name === 'class') node.className = value
    else if (name === 'dataset') Object.assign(node.dataset, value)
    else node.setAttribute(name, value)
  }
  node.append(...children) // strings become text nodes
  return node
}

/** Sets text only when it changed, so unchanged cells are left alone. */
function setText (node, text) {
  const value = String(text)
  if (node.textContent !== value) node.textContent = value
}

function setAttr (node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value)
}

const shortKey = (key) => typeof key === 'string' && key.length > 12 ? `${key.slice(0, 8)}…` : String(key ?? '–')
const isNum = (n) => typeof n === 'number' && Number.isFinite(n)

function formatBytes (n) {
  if (!isNum(n)) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

const formatPercent = (f) => isNum(f) ? `${Math.round(f * 100)}%` : '–'

function formatAge (ms) {
  if (!isNum(ms)) return 'never'
  if (ms < 1000) return `${Math.round(ms)} ms ago`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s ago`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`
  return `${Math.round(ms / 3_600_000)} h ago`
}

function show (node, visible) {
  if (node.hidden === visible) node.hidden = !visible
}

function say (message, isError = false) {
  ui.actionStatus.classList.toggle('error', isError)
  ui.actionStatus.textContent = message
}

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** Calls the admin API with the session cookie; throws ApiError on any non-2xx answer. */
async function api (method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } }
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const res = await fetch(path, init)
  let data = null
  try { data = await res.json() } catch { /* empty or not JSON */ }
  if (!res.ok) {
    const error = new ApiError(res.status, data?.error?.code ?? `HTTP_${res.status}`, data?.error?.message ?? `${res.status} ${res.statusText}`)
    if (res.status === 401 && path !== '/api/session') showSignin('Your session has ended. Sign in again.')
    throw error
  }
  return data
}

/** true: signed in, false: not, null: the node did not answer. */
async function sessionValid () {
  try {
    const res = await fetch('/api/session', { credentials: 'same-origin' })
    return res.ok
  } catch {
    return null
  }
}

// ---------------------------------------------------------------- sign in and out

function boot () {
  ui.signin.addEventListener('submit', signIn)
  ui.signout.addEventListener('click', signOut)
  ui.addCloud.addEventListener('submit', addCloud)
  ui.cloudKey.addEventListener('input', () => clearFieldError(ui.cloudKey, ui.addError))
  ui.token.addEventListener('input', () => clearFieldError(ui.token, ui.signinError))
  start()
}

/** Shows the dashboard or the sign-in form, whichever the session calls for. */
async function start () {
  const valid = await sessionValid()
  if (valid === null) {
    ui.loading.textContent = 'This node is not answering; retrying…'
    setTimeout(start, RETRY_MS)
  } else if (valid) {
    showDashboard()
  } else {
    showSignin()
  }
}

async function signIn (event) {
  event.preventDefault()
  const token = ui.token.value.trim()
  if (token === '') return fieldError(ui.token, ui.signinError, 'Enter the admin token.')
  const button = ui.signin.querySelector('button')
  button.disabled = true
  try {
    await api('POST', '/api/session', { token })
    ui.token.value = ''
    clearFieldError(ui.token, ui.signinError)
    showDashboard()
  } catch (err) {
    fieldError(ui.token, ui.signinError, err.status === 401 ? 'That token is not valid for this node.' : `Could not sign in: ${err.message}`)
  } finally {
    button.disabled = false
  }
}

async function signOut () {
  try { await api('DELETE', '/api/session') } catch { /* signed out either way */ }
  showSignin()
}

function showSignin (message = '') {
  closeStream()
  latest = null
  for (const list of [ui.nodes, ui.clouds, ui.events]) list.replaceChildren()
  show(ui.loading, false)
  show(ui.dashboard, false)
  show(ui.conn, false)
  show(ui.signout, false)
  show(ui.signinPanel, true)
  ui.signinError.textContent = message
  ui.token.focus()
}

function showDashboard () {
  show(ui.loading, false)
  show(ui.signinPanel, false)
  show(ui.dashboard, true)
  show(ui.conn, true)
  show(ui.signout, true)
  say('')
  openStream()
}

function fieldError (input, output, message) {
  output.textContent = message
  input.setAttribute('aria-invalid', 'true')
  input.focus()
}

function clearFieldError (input, output) {
  output.textContent = ''
  input.removeAttribute('aria-invalid')
}

// ---------------------------------------------------------------- the live stream

function setConn (state) {
  const labels = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' }
  setAttr(ui.conn, 'data-state', state)
  setText(ui.conn, labels[state] ?? state)
  ui.dashboard.classList.toggle('stale', state !== 'live')
}

function openStream () {
  closeStream()
  setConn(latest === null ? 'connecting' : 'reconnecting')
  lastStateAt = Date.now()
  stream = new EventSource(STREAM_URL)
  stream.addEventListener('state', onState)
  stream.addEventListener('error', onStreamError)
  watchdog = setInterval(() => {
    if (Date.now() - lastStateAt > STALE_MS) openStream()
  }, 1000)
}

function closeStream () {
  clearTimeout(retryTimer)
  clearInterval(watchdog)
  retryTimer = watchdog = null
  if (stream !== null) stream.close()
  stream = null
}

function onState (message) {
  let state
  try { state = JSON.parse(message.data) } catch { return }
  lastStateAt = Date.now()
  setConn('live')
  render(state)
}

async function onStreamError () {
  const source = stream
  setConn('reconnecting')
  // CONNECTING: the browser retries by itself. CLOSED: the server refused (401 or another
  // error status), so find out whether the session ended before trying again.
  if (source === null || source.readyState !== EventSource.CLOSED) return
  const valid = await sessionValid()
  if (source !== stream) return // signed out or reopened meanwhile
  if (valid === false) return showSignin('Your session has ended. Sign in again.')
  clearTimeout(retryTimer)
  retryTimer = setTimeout(openStream, RETRY_MS)
}

// ---------------------------------------------------------------- rendering

function render (state) {
  latest = state
  renderSummary(state)
  renderNodes(state.status)
  renderClouds(state.clouds ?? [])
  renderEvents(state.events ?? [])
}

/**
 * Makes `container`'s children match `items` in order, one child per key (in attribute `attr`):
 * existing children are updated and moved, new ones created, missing ones removed.
 */
function syncChildren (container, attr, items, keyOf, create, update) {
  const existing = new Map()
  for (const child of container.children) existing.set(child.getAttribute(attr), child)
  let cursor = container.firstElementChild
  for (const item of items) {
    const key = String(keyOf(item))
    let child = existing.get(key)
    if (child === undefined) {
      child = create(key, item)
      child.setAttribute(attr, key)
    } else {
      existing.delete(key)
    }
    update(child, item)
    if (child === cursor) cursor = cursor.nextElementSibling
    else container.insertBefore(child, cursor)
  }
  for (const child of existing.values()) child.remove()
}

const syncedTargets = (cloud) => (cloud.placement ?? []).filter((r) => r.role === 'target' && r.synced).length
const underReplicated = (cloud) => syncedTargets(cloud) < cloud.replicas

function renderSummary ({ status, clouds = [] }) {
  const field = (name) => ui.summary.querySelector(`[data-summary="${name}"]`)
  const counts = { live: 0, suspect: 0, down: 0, draining: 0 }
  for (const n of status.nodes) if (n.state in counts) counts[n.state]++
  setText(field('bevy'), status.bevy)
  setText(field('node'), shortKey(status.node.id))
  setAttr(field('node'), 'title', status.node.id)
  setText(field('node-url'), status.node.url)
  setText(field('zone'), status.node.zone)
  setText(field('disk'), formatBytes(status.node.diskBytes))
  for (const [state, count] of Object.entries(counts)) {
    setText(field(state), count)
    field(state).classList.toggle('zero', count === 0)
  }
  const under = clouds.filter(underReplicated).length
  setText(field('clouds'), `${clouds.length} ${clouds.length === 1 ? 'cloud' : 'clouds'}`)
  setText(field('under'), under)
  setAttr(field('under'), 'data-state', under > 0 ? 'suspect' : 'live')
}

// Nodes ------------------------------------------------------------------------

const nodeCells = new WeakMap()

function gauge () {
  const fill = el('span', { class: 'fill' })
  const text = el('span', { class: 'gauge-text' })
  return { node: el('span', { class: 'gauge' }, el('span', { class: 'bar', 'aria-hidden': 'true' }, fill), text), fill, text }
}

function setGauge (g, fraction, title) {
  setText(g.text, formatPercent(fraction))
  const width = isNum(fraction) ? `${Math.max(0, Math.min(1, fraction)) * 100}%` : '0%'
  if (g.fill.style.width !== width) g.fill.style.width = width
  g.fill.classList.toggle('high', isNum(fraction) && fraction >= 0.8)
  setAttr(g.node, 'title', title)
}

function createNodeRow (id) {
  const cells = {
    id: el('code', { class: 'key', title: id }, shortKey(id)),
    self: el('span', { class: 'tag', hidden: '' }, 'this node'),
    url: el('span', { class: 'sub muted' }),
    state: el('span', { class: 'badge' }),
    zone: el('td'),
    cpu: gauge(),
    mem: gauge(),
    loop: gauge(),
    heartbeat: el('td', { class: 'num' }),
    clouds: el('td', { class: 'num' }),
    bytes: el('td', { class: 'num' }),
    drain: el('button', { type: 'button', class: 'small' })
  }
  cells.drain.addEventListener('click', () => toggleDrain(id, row))
  const row = el('tr', {},
    el('th', { scope: 'row' }, cells.id, ' ', cells.self, cells.url),
    el('td', { dataset: { field: 'state' } }, cells.state),
    cells.zone,
    el('td', { class: 'num', dataset: { field: 'cpu' } }, cells.cpu.node),
    el('td', { class: 'num', dataset: { field: 'mem' } }, cells.mem.node),
    el('td', { class: 'num', dataset: { field: 'eventLoop' } }, cells.loop.node),
    cells.heartbeat,
    cells.clouds,
    cells.bytes,
    el('td', { class: 'actions' }, cells.drain)
  )
  cells.heartbeat.dataset.field = 'heartbeat'
  cells.clouds.dataset.field = 'clouds'
  cells.bytes.dataset.field = 'cloudBytes'
  nodeCells.set(row, cells)
  return row
}

function updateNodeRow (row, node) {
  const c = nodeCells.get(row)
  const self = latest?.status.node.id === node.id
  setAttr(row, 'data-state', node.state)
  row.classList.toggle('self', self)
  c.self.hidden = !self
  setText(c.url, node.url)
  setText(c.state, node.state)
  setAttr(c.state, 'data-state', node.state)
  setText(c.zone, node.zone)
  const load = node.load
  setGauge(c.cpu, load?.cpu, 'CPU use')
  setGauge(c.mem, load?.mem, load ? `RSS ${formatBytes(load.rssBytes)}, ${formatBytes(load.memFreeBytes)} free` : 'no heartbeat yet')
  setGauge(c.loop, load?.eventLoop, 'event-loop utilisation')
  setText(c.heartbeat, formatAge(node.heartbeatAgeMs))
  setAttr(c.heartbeat, 'title', node.heartbeatSeq === null ? 'no heartbeat yet' : `heartbeat #${node.heartbeatSeq}`)
  setText(c.clouds, node.clouds)
  setText(c.bytes, formatBytes(node.cloudBytes))
  setAttr(c.bytes, 'title', self ? `whole storage directory: ${formatBytes(latest.status.node.diskBytes)}` : 'cloud data this node reports holding')
  if (c.drain.getAttribute('aria-busy') !== 'true') {
    const undrain = node.state === 'draining'
    setText(c.drain, undrain ? 'Undrain' : 'Drain')
    setAttr(c.drain, 'aria-label', `${undrain ? 'Undrain' : 'Drain'} node ${shortKey(node.id)}`)
    c.drain.disabled = node.state === 'left'
  }
}

function renderNodes (status) {
  syncChildren(ui.nodes, 'data-node-id', status.nodes, (n) => n.id, createNodeRow, updateNodeRow)
}

async function toggleDrain (id, row) {
  const button = nodeCells.get(row).drain
  const undrain = row.getAttribute('data-state') === 'draining'
  button.disabled = true
  button.setAttribute('aria-busy', 'true')
  try {
    await api(undrain ? 'DELETE' : 'POST', `/api/nodes/${encodeURIComponent(id)}/drain`)
    say(`${undrain ? 'Undrained' : 'Draining'} node ${shortKey(id)}`)
  } catch (err) {
    say(`Could not ${undrain ? 'undrain' : 'drain'} node ${shortKey(id)}: ${err.message}`, true)
  } finally {
    button.removeAttribute('aria-busy')
    button.disabled = false
    const node = latest?.status.nodes.find((n) => n.id === id)
    if (node !== undefined) updateNodeRow(row, node)
  }
}

// Clouds -----------------------------------------------------------------------

const cloudCells = new WeakMap()

function createCloudRow (key) {
  const cells = {
    synced: el('span', { class: 'badge' }),
    kind: el('span', { class: 'tag', title: 'a hosted cloud takes writes at its replicas' }),
    size: el('td', { class: 'num', dataset: { field: 'size' } }),
    replicas: el('ul', { class: 'replicas' }),
    remove: el('button', { type: 'button', class: 'small danger-outline', 'aria-label': `Remove cloud ${shortKey(key)}` }, 'Remove')
  }
  cells.remove.addEventListener('click', () => removeCloud(key, cells.remove))
  const row = el('tr', {},
    el('th', { scope: 'row' }, el('code', { class: 'key full' }, key), cells.kind),
    el('td', { class: 'num', dataset: { field: 'synced' } }, cells.synced),
    cells.size,
    el('td', { dataset: { field: 'placement' } }, cells.replicas),
    el('td', { class: 'actions' }, cells.remove)
  )
  cloudCells.set(row, cells)
  return row
}

function replicaItem (r) {
  const progress = isNum(r.progress) ? r.progress : (r.synced ? 1 : 0)
  const state = r.state ?? (r.synced ? 'synced' : 'no report')
  const bar = el('progress', { max: '1', value: String(progress), 'aria-label': `sync progress of ${shortKey(r.node)}` })
  const parts = [
    el('code', { class: 'key', title: r.node }, shortKey(r.node)),
    r.role === 'handoff' ? el('span', { class: 'tag' }, 'handoff') : '',
    el('span', { class: 'badge', dataset: { state } }, state),
    bar,
    el('span', { class: 'pct' }, formatPercent(progress))
  ]
  const details = []
  if (r.bytes && isNum(r.bytes.total)) details.push(`${formatBytes(r.bytes.had)} / ${formatBytes(r.bytes.total)}`)
  if (isNum(r.peers)) details.push(`${r.peers} ${r.peers === 1 ? 'peer' : 'peers'}`)
  if (isNum(r.version)) details.push(`v${r.version}`)
  if (details.length > 0) parts.push(el('span', { class: 'muted' }, details.join(' · ')))
  const title = r.url ?? 'no URL known'
  return el('li', { title, dataset: { node: r.node } }, ...parts)
}

function updateCloudRow (row, cloud) {
  const c = cloudCells.get(row)
  const placement = cloud.placement ?? []
  const synced = syncedTargets(cloud)
  setText(c.kind, cloud.hosted === true ? 'hosted' : '')
  c.kind.hidden = cloud.hosted !== true
  setText(c.synced, `${synced} / ${cloud.replicas}`)
  setAttr(c.synced, 'data-state', synced >= cloud.replicas ? 'live' : synced === 0 ? 'down' : 'suspect')
  setAttr(c.synced, 'title', synced >= cloud.replicas ? 'fully replicated' : 'under-replicated')
  const totals = placement.map((r) => r.bytes?.total).filter(isNum)
  setText(c.size, totals.length > 0 ? formatBytes(Math.max(...totals)) : '–')
  // The replica list holds nothing focusable, so it is rebuilt, but only when it changed.
  const signature = JSON.stringify(placement)
  if (c.replicas.dataset.signature !== signature) {
    c.replicas.dataset.signature = signature
    c.replicas.replaceChildren(...placement.map(replicaItem))
    if (placement.length === 0) c.replicas.append(el('li', { class: 'muted' }, 'no replica placed yet'))
  }
}

function renderClouds (clouds) {
  syncChildren(ui.clouds, 'data-cloud-key', clouds, (c) => c.key, createCloudRow, updateCloudRow)
  show(ui.cloudsEmpty, clouds.length === 0)
}

/** Replaces or adds one cloud in the last state, so an action shows before the stream's next push. */
function applyCloud (key, info) {
  if (latest === null) return
  const clouds = latest.clouds.filter((c) => c.key !== key)
  if (info !== null) clouds.push(info)
  latest = { ...latest, clouds }
  renderClouds(clouds)
  renderSummary(latest)
}

async function addCloud (event) {
  event.preventDefault()
  const key = ui.cloudKey.value.trim()
  if (key === '') return fieldError(ui.cloudKey, ui.addError, 'Paste a cloud key (52 z-base-32 or 64 hex characters).')
  const body = { key }
  const replicas = ui.cloudReplicas.value.trim()
  if (replicas !== '') body.replicas = Number(replicas)
  const button = ui.addCloud.querySelector('button[type="submit"]')
  button.disabled = true
  try {
    const info = await api('POST', '/api/clouds', body)
    ui.cloudKey.value = ''
    clearFieldError(ui.cloudKey, ui.addError)
    if (info?.key) applyCloud(info.key, info)
    say(`Added cloud ${shortKey(info?.key ?? key)}`)
  } catch (err) {
    if (err.status !== 401) fieldError(ui.cloudKey, ui.addError, err.message)
  } finally {
    button.disabled = false
  }
}

/** Two clicks remove a cloud: the first arms the button, the second (within 5 s) confirms. */
async function removeCloud (key, button) {
  if (button.dataset.armed !== 'true') {
    button.dataset.armed = 'true'
    button.textContent = 'Really remove?'
    button.classList.add('danger')
    button.disarm = setTimeout(() => disarm(button), DISARM_MS)
    return
  }
  clearTimeout(button.disarm)
  button.disabled = true
  try {
    await api('DELETE', `/api/clouds/${encodeURIComponent(key)}`)
    applyCloud(key, null)
    say(`Removed cloud ${shortKey(key)}`)
  } catch (err) {
    say(`Could not remove cloud ${shortKey(key)}: ${err.message}`, true)
    disarm(button)
  } finally {
    button.disabled = false
  }
}

function disarm (button) {
  delete button.dataset.armed
  button.textContent = 'Remove'
  button.classList.remove('danger')
}

// Events -----------------------------------------------------------------------

function createEventItem (seq, ev) {
  const at = new Date(ev.at)
  const time = el('time', { datetime: ev.at, title: at.toLocaleString() },
    Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }))
  const about = { kind: ev.kind }
  const subject = el('span', { class: 'subject' })
  if (typeof ev.node === 'string') {
    about.node = ev.node
    subject.append(el('span', { title: ev.node }, `node ${shortKey(ev.node)}`))
  }
  if (typeof ev.cloud === 'string') {
    about.cloud = ev.cloud
    subject.append(el('span', { title: ev.cloud }, `cloud ${shortKey(ev.cloud)}`))
  }
  return el('li', { dataset: about }, time, el('span', { class: 'kind', dataset: { kind: ev.kind } }, ev.kind), subject, el('span', { class: 'message' }))
}

function updateEventItem (item, ev) {
  setText(item.querySelector('.message'), ev.message)
}

function renderEvents (events) {
  const newestFirst = events.slice(-MAX_EVENTS).reverse()
  syncChildren(ui.events, 'data-seq', newestFirst, (e) => e.seq, createEventItem, updateEventItem)
  show(ui.eventsEmpty, newestFirst.length === 0)
}

boot()
