// The request head proxy mode peeks at before deciding to pin a connection.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { MAX_PEEKED_HEAD_BYTES, parseRequestHead } from '../router/request-head.js'

test('a complete head gives method, URL, version and lower-cased, joined headers', () => {
  const head = parseRequestHead(Buffer.from('GET /c/abc/x?y=1 HTTP/1.1\r\nHost: a.example\r\nX-Bevy-Route: proxy\r\nAccept: a\r\naccept: b\r\n\r\nrest'))
  assert.deepEqual(head, {
    method: 'GET',
    url: '/c/abc/x?y=1',
    minor: 1,
    headers: new Map([['host', 'a.example'], ['x-bevy-route', 'proxy'], ['accept', 'a, b']])
  })
})

test('incomplete, odd or oversized heads are left to the HTTP server', () => {
  for (const text of [
    'GET /x HTTP/1.1\r\nHost: a\r\n', // no blank line yet
    'GET /x HTTP/2.0\r\n\r\n',
    'get /x HTTP/1.1\r\n\r\n',
    'GET  /x HTTP/1.1\r\n\r\n',
    'GET /x HTTP/1.1\r\nno colon here\r\n\r\n',
    'GET /x HTTP/1.1\r\n: empty name\r\n\r\n',
    `GET /x HTTP/1.1\r\nX-Big: ${'a'.repeat(MAX_PEEKED_HEAD_BYTES)}\r\n\r\n`
  ]) assert.equal(parseRequestHead(Buffer.from(text)), null, JSON.stringify(text.slice(0, 40)))
})

test('property: any bytes parse to a head or null, never an exception', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
    const head = parseRequestHead(Buffer.from(bytes))
    assert.ok(head === null || typeof head.method === 'string')
  }), { seed: 7, numRuns: 2000 })
})
