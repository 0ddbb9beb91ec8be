// The request path's drive-path check: its shortcuts for clean paths must decide exactly as the
// plain definition does (decode, refuse NUL, backslash and dot segments, collapse slashes).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { checkDrivePath, MAX_CLOUD_PATH_BYTES } from '../router/cloud-path.js'
import { BevyError } from '../protocol/index.js'


/** The definition, step by step, with no shortcut. */
function reference (rawPath: string): string {
  if (Buffer.byteLength(rawPath) > MAX_CLOUD_PATH_BYTES) throw new Error('BAD_PATH')
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    throw new Error('BAD_PATH')
  }
  if (path.includes('\0') || path.includes('\\')) throw new Error('BAD_PATH')
  for (const segment of path.split('/')) if (segment === '..' || segment === '.') throw new Error('BAD_PATH')
  return path.replace(/\/{2,}/g, '/')
}

function outcome (check: (raw: string) => string, raw: string): string {
  try {
    return `ok ${check(raw)}`
  } catch (err) {
    if (err instanceof BevyError) return `refused ${err.code}`
    return `refused ${(err as Error).message}`
  }
}

test('checkDrivePath decides every path as the plain definition does', () => {
  const piece = fc.constantFrom('/', '.', '..', '%', '%2e', '%2F', '%5c', '%00', '%zz', '\\', '\0', 'a', 'é', '//', '~', ' ')
  const path = fc.oneof(
    fc.array(piece, { maxLength: 24 }).map((parts) => parts.join('')),
    fc.array(piece, { maxLength: 24 }).map((parts) => '/' + parts.join('')),
    fc.string({ maxLength: 64 }),
    fc.string({ minLength: 1300, maxLength: 1500, unit: 'binary' })
  )
  fc.assert(fc.property(path, (raw) => {
    assert.equal(outcome(checkDrivePath, raw), outcome(reference, raw), JSON.stringify(raw))
  }), { seed: 20261122, numRuns: 5000 })
})
