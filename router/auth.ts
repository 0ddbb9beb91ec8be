// Operator auth: a bearer token compared in constant time. Hashing both sides first makes the
// comparison length-independent, so neither content nor length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto'

export function tokenMatches (presented: string | undefined, expected: string): boolean {
  if (presented === undefined || expected.length === 0) return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}
