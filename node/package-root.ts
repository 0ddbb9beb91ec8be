// Where the package's own files (package.json, router/dashboard/, sim/scenarios/, bin/) are. Found
// by walking up from this module to the package.json that names this package, so the answer is
// the same from dist/ as it is from the single-file bundle the bin runs (see node/cli/bundle.ts).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE_NAME = 'cloud-bevy'

function findPackageRoot (from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && readName(manifest) === PACKAGE_NAME) return dir
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package above ${from}`)
  }
}

function readName (manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name
  } catch {
    return undefined
  }
}

/** The package's root directory. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)))

/** A path inside the package, from its root: `packagePath('router', 'dashboard')`. */
export function packagePath (...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts)
}
