// The package's version, for `bevy --version` and the API document. Read once, from the
// package.json next to dist/ (this file compiles to dist/node/version.js).
import { readFileSync } from 'node:fs'

function readVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}

export const PACKAGE_VERSION = readVersion()
