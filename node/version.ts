// The package's version, for `bevy --version` and the API document, from the package.json that
// package-root.ts has read already.
import { PACKAGE_MANIFEST } from './package-root.js'

export const PACKAGE_VERSION = typeof PACKAGE_MANIFEST.version === 'string' ? PACKAGE_MANIFEST.version : '0.0.0'
