// Server-Sent Events streams on hijacked replies: the headers, numbered events, a keepalive
// comment, and ending every open stream when the app closes (open streams would hold
// app.close() forever).
import type { FastifyInstance, FastifyReply } from 'fastify'

/** A comment line this often keeps idle streams open through proxies that cut silent ones. */
const KEEPALIVE_MS = 15_000

export interface EventStream {
  send: (event: string, data: unknown) => void
  /** Ends the stream; idempotent. */
  end: () => void
}

export class EventStreams {
  private readonly open = new Set<() => void>()

  /** Ends every stream before `app` closes. Call once, from the plugin that owns the streams. */
  endOnClose (app: FastifyInstance): void {
    app.addHook('preClose', async () => { for (const end of [...this.open]) end() })
  }

  /** Turns `reply` into an event stream; `onEnd` runs once when it ends, from either side. */
  start (reply: FastifyReply, onEnd: () => void): EventStream {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive'
    })
    // A HEAD request gets the head a GET would, and its end: Node sends no body for HEAD, so an
    // open stream would send nothing at all and hold the connection for good.
    const head = reply.request.method === 'HEAD'
    let id = 0
    const keepalive = head ? null : setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)
    const end = () => {
      if (!this.open.delete(end)) return
      if (keepalive !== null) clearInterval(keepalive)
      onEnd()
      res.end()
    }
    this.open.add(end)
    // 'close' comes after the caller has subscribed, so its onEnd unsubscribes, even for HEAD.
    res.on('close', end)
    if (head) res.end()
    return {
      send: (event, data) => { if (!head) res.write(`id: ${++id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`) },
      end
    }
  }
}
