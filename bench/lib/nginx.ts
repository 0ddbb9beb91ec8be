// nginx for the benchmarks: found on PATH or the usual sbin directories, run in the foreground with
// one worker and a config of our own in a temp prefix. Started as root, nginx runs its worker as an
// unprivileged user, so whatever the worker reads must be world-readable (callers chmod their dirs).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { waitFor } from './util.js'

export function findNginx (): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')
  for (const dir of [...dirs, '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']) {
    const path = join(dir, 'nginx')
    if (existsSync(path)) return path
  }
  return null
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface NginxOptions {
  /** Directives inside `http { }` after the common ones (access_log off, keep-alive, temp paths); gets the port to listen on. */
  http: (port: number) => string
  /** Path that must answer 2xx before nginx counts as up. */
  probePath: string
  /** Start it under `taskset -c cores` (master and worker). */
  pin?: { taskset: string, cores: string } | null
}

/** Starts nginx (1 worker, daemon off) with its prefix, config, logs and temp dirs under `prefix`. */
export async function startNginx (bin: string, prefix: string, opts: NginxOptions, children: Set<ChildProcess>): Promise<{ child: ChildProcess, url: string }> {
  await mkdir(join(prefix, 'temp'), { recursive: true })
  const port = await freePort()
  const t = (name: string) => join(prefix, 'temp', name)
  const conf = `worker_processes 1;
daemon off;
error_log ${join(prefix, 'error.log')} warn;
pid ${join(prefix, 'nginx.pid')};
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
${opts.http(port)}
}
`
  const confPath = join(prefix, 'nginx.conf')
  await writeFile(confPath, conf)
  const args = ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', confPath]
  const pin = opts.pin ?? null
  // A session of its own, as a daemon has and as every bevy node has (spawnNode detaches them):
  // Linux's autogroup scheduling treats each session as one group, and a server sharing the
  // benchmark's group would be scheduled differently from the ones it is compared with.
  const options = { stdio: ['ignore', 'ignore', 'pipe'] as Array<'ignore' | 'pipe'>, detached: true }
  const child = pin === null
    ? spawn(bin, args, options)
    : spawn(pin.taskset, ['-c', pin.cores, bin, ...args], options) // taskset execs nginx: same pid
  children.add(child)
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  child.once('exit', () => children.delete(child))
  const url = `http://127.0.0.1:${port}`
  await waitFor('nginx to answer', 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`)
    try {
      const res = await fetch(url + opts.probePath)
      await res.arrayBuffer()
      return res.ok
    } catch { return false }
  })
  return { child, url }
}
