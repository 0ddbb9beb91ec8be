// The operator dashboard in a real headless Chromium (playwright-core driving Debian's chromium)
// against three node processes: a wrong token is refused, signing in sets an HttpOnly,
// SameSite=Strict cookie and shows the three nodes and a cloud, a pasted key adds a cloud, and a
// SIGKILLed node turns down on the page by the page's own SSE updates. It ends with a screenshot.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { chromium, type Page } from 'playwright-core'
import { api, loopbackDht, onTeardown, seedDrives, startBevy, tempDir } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
/** Two shared cores run three nodes, an owner and a browser: waits are generous. */
const WAIT_MS = 60_000

/** Runs one step; on failure, the error carries what the page showed at that moment. */
async function step<T> (page: Page, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const shown = await page.locator('body').innerText({ timeout: 2000 }).catch(() => '(page text unavailable)')
    throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}\n--- the page showed ---\n${shown.slice(0, 4000)}`)
  }
}

/** The text of a node row's state cell, or null while there is no such row. */
async function nodeStateOnPage (page: Page, id: string): Promise<string | null> {
  return await page.evaluate((id) => document.querySelector(`tr[data-node-id="${id}"] [data-field="state"]`)?.textContent?.trim() ?? null, id)
}

test('dashboard in a headless browser: sign in, nodes and clouds, add a cloud, a killed node turns down', { timeout: 180_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.BEVY_REQUIRE_BROWSER === '1') assert.fail(`BEVY_REQUIRE_BROWSER=1 but ${CHROMIUM} does not exist (apt-get install chromium)`)
    t.skip('chromium not installed (apt-get install chromium)')
    return
  }

  const dht = await loopbackDht(t)
  const { keys: [firstCloud, secondCloud] } = await seedDrives(t, dht, 2)
  const bevy = await startBevy(t, dht, 3, (i) => ['--zone', `z${i}`])
  const [a, b, c] = bevy.members
  await api(a, 'POST', '/api/clouds', { key: firstCloud, replicas: 3 })

  const dir = await tempDir(t, 'bevy-dashboard-')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS })
  onTeardown(t, () => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  onTeardown(t, () => context.close())
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT_MS)
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  // The node serves the page with a strict Content-Security-Policy; a violation is a bug too.
  page.on('console', (msg) => { if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) pageErrors.push(msg.text()) })

  await t.test('a wrong token shows an error and no dashboard', async () => {
    await step(page, 'opening the sign-in form', async () => {
      await page.goto(`${a.url}/`)
      await page.locator('#signin').waitFor({ state: 'visible' })
    })
    await page.fill('#token', `${a.token}-wrong`)
    await page.locator('#signin [type="submit"]').click()
    await step(page, 'an error for the wrong token', () => page.waitForFunction(() => (document.querySelector('#signin-error')?.textContent ?? '').trim() !== ''))
    assert.equal(await page.locator('#dashboard').isVisible(), false, 'no dashboard without a valid token')
    assert.equal(await page.locator('tr[data-node-id]').count(), 0, 'no node rows without a valid token')
    assert.equal((await context.cookies(a.url)).find((k) => k.name === 'bevy_session'), undefined, 'no session cookie for a wrong token')
  })

  await t.test('signing in sets an HttpOnly SameSite=Strict cookie and shows 3 live nodes and the cloud', async () => {
    await page.fill('#token', a.token)
    await page.locator('#signin [type="submit"]').click()
    await step(page, 'three node rows, all live', () => page.waitForFunction((ids) => ids.every((id) =>
      document.querySelector(`tr[data-node-id="${id}"] [data-field="state"]`)?.textContent?.trim() === 'live'), [a.id, b.id, c.id], { polling: 250 }))
    const shown = await page.locator('tr[data-node-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node-id')))
    assert.deepEqual(shown.sort(), [a.id, b.id, c.id].sort(), 'exactly the three members, one row each')
    await step(page, 'the registered cloud\'s row', () => page.locator(`tr[data-cloud-key="${firstCloud}"]`).waitFor())
    assert.equal(await page.locator('#signin').isVisible(), false, 'the sign-in form is gone')

    const cookie = (await context.cookies(a.url)).find((k) => k.name === 'bevy_session')
    assert.ok(cookie !== undefined, 'signing in sets bevy_session')
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Strict')
    assert.equal(cookie.path, '/')
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /bevy_session/, 'page scripts cannot read the session')
  })

  await t.test('a pasted cloud key is added and its row appears', async () => {
    await page.locator('#cloud-key').focus()
    await page.keyboard.insertText(secondCloud) // what a paste does: one input event with the text
    await page.locator('#add-cloud [type="submit"]').click()
    await step(page, 'the new cloud\'s row', () => page.locator(`tr[data-cloud-key="${secondCloud}"]`).waitFor())
    assert.equal((await page.textContent('#add-cloud-error'))?.trim(), '', 'no error for a good key')
    assert.equal(await page.inputValue('#cloud-key'), '', 'the field is cleared for the next key')
    const info = await api<{ key: string, replicas: number }>(a, 'GET', `/api/clouds/${secondCloud}`)
    assert.equal(info.key, secondCloud, 'the node registered it')
    assert.equal(await page.locator('tr[data-cloud-key]').count(), 2)
  })

  await t.test('a SIGKILLed node turns down on the page without a reload', async () => {
    await page.evaluate(() => { (window as unknown as { notReloaded: boolean }).notReloaded = true })
    await bevy.procs[2]?.stop('SIGKILL')
    await step(page, 'node c to show down', () => page.waitForFunction((id) =>
      document.querySelector(`tr[data-node-id="${id}"] [data-field="state"]`)?.textContent?.trim() === 'down', c.id, { polling: 100, timeout: 90_000 }))
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page updated itself over SSE')
    assert.equal(await nodeStateOnPage(page, a.id), 'live')
    await step(page, 'a down event for c in the recent events', () =>
      page.locator(`#events li[data-kind="down"][data-node="${c.id}"]`).first().waitFor())
  })

  await t.test('a screenshot is saved under the test\'s temp dir', async () => {
    const path = join(dir, 'dashboard.png')
    await page.screenshot({ path, fullPage: true })
    const png = await readFile(path)
    assert.ok(png.length > 1000, 'the screenshot is not empty')
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'it is a PNG')
    // Optional: keep a copy to look at, since the temp dir goes when the test ends.
    const keep = process.env.BEVY_SCREENSHOT_DIR
    if (keep !== undefined && keep !== '') await copyFile(path, join(keep, 'dashboard.png'))
  })

  assert.deepEqual(pageErrors, [], 'no script errors or CSP violations on the page')
})
