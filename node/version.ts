// The package's version, for `bevy --version` and the API document. Read once, from the
// package's package.json.
import { readFileSync } from 'node:fs'
import { packagePath } from './package-root.js'

function readVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}

export const PACKAGE_VERSION = readVersion()
