// `npm start` runs `bevy demo`: a DHT and three nodes on loopback that answer /api/health and
// serve a sample cloud through the printed curl line, and one Ctrl-C stops all of it with exit 0 and no process left behind.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { BIN_PATH } from '../node/cli/spawn.js'
import { waitFor } from './helpers.js'

async function processesMentioning (text: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.includes(text)) pids.push(Number(entry))
    } catch {}
  }
  return pids
}

test('bevy demo starts three healthy nodes and stops cleanly on Ctrl-C', { timeout: 90_000 }, async (t) => {
  const basePort = 20_000 + Math.floor(Math.random() * 30_000)
  // detached: its own process group, like a terminal session whose Ctrl-C hits the group.
  const demo = spawn(process.execPath, [BIN_PATH, 'demo', '--base-port', String(basePort)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  demo.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  demo.stderr.on('data', (d: Buffer) => { stdout += d.toString() })
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)))
  t.after(() => { if (demo.exitCode === null) process.kill(-(demo.pid as number), 'SIGKILL') })

  await waitFor('the demo to come up', () => stdout.includes('is up') ? true : undefined, 60_000)
  const urls = [...stdout.matchAll(/^ {2}(http:\/\/127\.0\.0\.1:\d+)/gm)].map((m) => m[1] as string)
  assert.equal(urls.length, 3)
  const cloudUrl = /curl -L (http:\/\/127\.0\.0\.1:\d+\/c\/[a-z0-9]{52}\/)$/m.exec(stdout)?.[1]
  assert.ok(cloudUrl !== undefined, `prints a ready-to-paste curl line for the sample cloud:\n${stdout}`)
  const page = await fetch(cloudUrl)
  assert.equal(page.status, 200)
  assert.match(await page.text(), /Hello from a personal cloud/)
  const image = await fetch(new URL('img/bevy.svg', cloudUrl))
  assert.equal(image.headers.get('content-type'), 'image/svg+xml')
  assert.match(await (await fetch(new URL('notes/2026/hello.txt', cloudUrl))).text(), /two folders deep/)
  for (const url of urls) {
    const res = await fetch(`${url}/api/health`)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true })
  }
  const storage = /starting 3 nodes in (\S+)/.exec(stdout)?.[1]
  assert.ok(storage !== undefined)
  assert.equal((await processesMentioning(storage)).length, 3, 'three node processes run')

  process.kill(-(demo.pid as number), 'SIGINT')
  assert.equal(await exited, 0)
  assert.deepEqual(await processesMentioning(storage), [], 'no node process outlives the demo')
  for (const url of urls) await assert.rejects(fetch(`${url}/api/health`), 'ports are closed')
})
