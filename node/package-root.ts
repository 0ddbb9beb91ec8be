// Where the package's own files (package.json, router/dashboard/, sim/scenarios/, bin/) are. Found
// by walking up from this module to the package.json that names this package, so the answer is
// the same from dist/ as it is from the single-file bundle the bin runs (see node/cli/bundle.ts).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE_NAME = 'cloud-bevy'

/** The fields of package.json the node reads. */
export interface PackageManifest { name?: unknown, version?: unknown }

function findPackage (from: string): { root: string, manifest: PackageManifest } {
  for (let dir = from; ; dir = dirname(dir)) {
    const path = join(dir, 'package.json')
    const manifest = existsSync(path) ? readManifest(path) : null
    if (manifest?.name === PACKAGE_NAME) return { root: dir, manifest }
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package above ${from}`)
  }
}

function readManifest (path: string): PackageManifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PackageManifest
  } catch {
    return null
  }
}

const found = findPackage(dirname(fileURLToPath(import.meta.url)))

/** The package's root directory. */
export const PACKAGE_ROOT = found.root

/** The package's package.json, as read once while finding the root. */
export const PACKAGE_MANIFEST: Readonly<PackageManifest> = found.manifest

/** A path inside the package, from its root: `packagePath('router', 'dashboard')`. */
export function packagePath (...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts)
}
