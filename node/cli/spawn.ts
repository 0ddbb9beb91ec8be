// Starts `bevy start` as a child process with an IPC channel, for the demo, tests and benchmarks.
// The IPC channel ties the child's life to ours: when we go, it shuts down by itself.
import { fork, type ChildProcess } from 'node:child_process'
import { packagePath } from '../package-root.js'
import type { ReadyMessage } from './start.js'

export const BIN_PATH = packagePath('bin', 'bevy.js')

export interface NodeProcess {
  child: ChildProcess
  /** Resolves when the node is in its bevy and serving; rejects if it exits first. */
  ready: Promise<ReadyMessage>
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>
  /** Sends a signal and waits for the exit. */
  stop (signal?: NodeJS.Signals): Promise<number | string>
  output (): string
}

export function spawnNode (args: string[], opts: { env?: NodeJS.ProcessEnv, quiet?: boolean, execArgv?: string[], bin?: string } = {}): NodeProcess {
  const child = fork(opts.bin ?? BIN_PATH, ['start', ...args], {
    ...(opts.execArgv === undefined ? {} : { execArgv: opts.execArgv }),
    env: { ...process.env, ...opts.env },
    // Own process group: a terminal's Ctrl-C reaches only the parent, which stops children in order.
    detached: true,
    stdio: ['ignore', 'pipe', opts.quiet === false ? 'inherit' : 'pipe', 'ipc']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  const ready = new Promise<ReadyMessage>((resolve, reject) => {
    child.on('message', (msg: { type?: string }) => { if (msg?.type === 'ready') resolve(msg as ReadyMessage) })
    exited.then((code) => reject(new Error(`bevy start exited with ${code} before it was ready:\n${output.slice(-2000)}`)), reject)
  })
  ready.catch(() => {}) // callers that only want `exited` must not trip an unhandled rejection
  return {
    child,
    ready,
    exited,
    stop (signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
    output: () => output
  }
}
