// Durations as people write them: "500ms", "30s", "15m", "24h", "7d" or bare milliseconds.
import { BevyError, ErrorCode } from './errors.js'

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds in `text`; zero only when `allowZero`. Throws BAD_CONFIG naming `what`. */
export function parseDuration (text: string | number, what: string, allowZero = false): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(text).trim())
  const value = match === null ? NaN : Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? NaN)
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new BevyError(ErrorCode.BAD_CONFIG, `${what} takes a duration like 30s, 15m or 24h, got "${String(text)}"`)
  }
  return Math.round(value)
}

/** The shortest exact spelling of a duration: 90000 → "1m30s". */
export function formatDuration (ms: number): string {
  if (ms === 0) return '0s'
  const parts: string[] = []
  let left = Math.round(ms)
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`)
      left %= size
    }
  }
  return parts.join('')
}
