// One proxied request to one replica, on fast-proxy. fast-proxy writes its own error answers
// (503 for a refused connection, 504 for a reset); ours differ (502 upstream error, 504 timeout,
// a retry for GET), so it writes into a stand-in response and we keep the decision here.
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import https from 'node:https'
import type { Readable } from 'node:stream'
import type FastProxyFactory from 'fast-proxy'

type FastProxy = ReturnType<typeof FastProxyFactory>

/** An answer from the replica: its status and headers, and its body still to be streamed. */
export interface UpstreamResponse { ok: true, statusCode: number, headers: OutgoingHttpHeaders, body: Readable }
/** No answer: the replica refused, reset or stayed silent past the timeout. */
export interface UpstreamFailure { ok: false, timedOut: boolean, error: Error | null }
export type UpstreamResult = UpstreamResponse | UpstreamFailure

export interface ForwardOptions {
  /** Base URL of the replica, e.g. http://10.0.0.2:7420 */
  url: string
  /** Path and query to request there. */
  path: string
  /** Headers to add or replace on the way up (forwarding and hop headers). */
  headers: Record<string, string>
}

/** Where a request's error and timeout land, so the answer can tell them apart. */
interface AttemptRecord { error: Error | null, timedOut: boolean }
const ATTEMPT = Symbol('bevy.attempt')
type TrackedOptions = http.RequestOptions & { [ATTEMPT]?: AttemptRecord }

/** http/https with every request's failure recorded on its attempt; fast-proxy calls `.request()`. */
function trackedClient (client: typeof http | typeof https): { request: (options: TrackedOptions) => http.ClientRequest } {
  return {
    request (options) {
      const req = client.request(options)
      const attempt = options[ATTEMPT]
      if (attempt !== undefined) {
        req.on('error', (err) => { attempt.error ??= err })
        req.on('timeout', () => { attempt.timedOut = true })
      }
      return req
    }
  }
}

/** Connection-level headers that belong to one hop and must not be passed on (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

export function withoutHopHeaders (headers: OutgoingHttpHeaders | IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value
  }
  return out
}

export class ReplicaProxy {
  private fast: FastProxy | null = null
  private loading: Promise<FastProxy> | null = null
  private closed = false

  constructor (private readonly opts: { timeoutMs: number }) {}

  /**
   * fast-proxy loads undici, whose first load costs a node ~40 ms of CPU at start: it is loaded
   * when a request is first proxied (most nodes redirect), not when the node boots.
   */
  private load (): Promise<FastProxy> {
    this.loading ??= import('fast-proxy').then(({ default: fastProxy }) => {
      this.fast = fastProxy({
        // The typings say Agent; fast-proxy only ever calls `.request(options)` on these.
        requests: { http: trackedClient(http), https: trackedClient(https) } as never,
        cacheURLs: 1000,
        keepAliveMsecs: 60_000
      })
      if (this.closed) this.fast.close()
      return this.fast
    })
    return this.loading
  }

  /** Sends `req` to one replica. Resolves with its response head, or with why there is none. */
  forward (req: IncomingMessage, opts: ForwardOptions): Promise<UpstreamResult> {
    if (this.fast !== null) return this.send(this.fast, req, opts)
    return this.load().then((fast) => this.send(fast, req, opts), (err: unknown) => {
      this.loading = null // a failed load is tried again on the next request
      return { ok: false, timedOut: false, error: err instanceof Error ? err : new Error(String(err)) }
    })
  }

  private send (fast: FastProxy, req: IncomingMessage, opts: ForwardOptions): Promise<UpstreamResult> {
    return new Promise((resolve) => {
      const attempt: AttemptRecord = { error: null, timedOut: false }
      let settled = false
      const settle = (result: UpstreamResult) => { if (!settled) { settled = true; resolve(result) } }
      const headers: OutgoingHttpHeaders = {}
      // fast-proxy writes the upstream head into this, or a canned error it picked; we map errors.
      const standIn = {
        sent: false,
        writableFinished: false,
        statusCode: 0,
        setHeader (name: string, value: OutgoingHttpHeaders[string]) { headers[name] = value },
        end () { settle({ ok: false, timedOut: attempt.timedOut, error: attempt.error }) }
      }
      const request: TrackedOptions = { timeout: this.opts.timeoutMs, [ATTEMPT]: attempt }
      fast.proxy(req, standIn as never, opts.path, {
        base: opts.url,
        request,
        rewriteRequestHeaders: (_req, upstream) => ({ ...upstream, ...opts.headers }),
        onResponse: (_req, _res, stream) => {
          settle({ ok: true, statusCode: standIn.statusCode, headers: withoutHopHeaders(headers), body: stream as unknown as Readable })
        }
      })
    })
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.fast?.close()
  }
}
