// Build step (`npm run build`): bundles the compiled CLI into one file, dist/bevy.mjs, which
// bin/bevy.js runs. A node that boots loads one file instead of resolving, reading and compiling
// some 1,500 modules: that halves a node's CPU time to start (measured in BENCHMARKS.md), which is
// what ten nodes booting at once on a small machine wait for.
// Left out of the bundle, loaded from node_modules as usual: packages with native addons (they
// find their prebuilt binaries next to their own files), and packages that read their own files
// through __dirname (pino's transport worker, @fastify/swagger's package.json).
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { packagePath } from '../package-root.js'

const READ_OWN_FILES = ['pino', 'pino-pretty', 'thread-stream', '@fastify/swagger']
const ADDON_LOADERS = ['require-addon', 'node-gyp-build']

/** Installed packages that ship a native addon (prebuilt binaries, or a gyp build). */
function nativePackages (modules: string): string[] {
  const names: string[] = []
  for (const entry of readdirSync(modules)) {
    const scoped = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((name) => `${entry}/${name}`) : [entry]
    for (const name of scoped) {
      const dir = join(modules, name)
      if (existsSync(join(dir, 'prebuilds')) || existsSync(join(dir, 'binding.gyp'))) names.push(name)
    }
  }
  return names
}

// Bundled CommonJS code expects require, __filename and __dirname; an ES module has none of them.
const BANNER = [
  "import { createRequire as __bevyCreateRequire } from 'node:module'",
  "import { fileURLToPath as __bevyFileURLToPath } from 'node:url'",
  "import { dirname as __bevyDirname } from 'node:path'",
  'const require = __bevyCreateRequire(import.meta.url)',
  'const __filename = __bevyFileURLToPath(import.meta.url)',
  'const __dirname = __bevyDirname(__filename)'
].join('\n')

async function main (): Promise<void> {
  const external = [...new Set([...nativePackages(packagePath('node_modules')), ...READ_OWN_FILES, ...ADDON_LOADERS])]
  const result = await build({
    entryPoints: [packagePath('dist', 'node', 'cli', 'main.js')],
    outfile: packagePath('dist', 'bevy.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    banner: { js: BANNER },
    logLevel: 'warning',
    metafile: true
  })
  const bytes = Object.values(result.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0)
  process.stdout.write(`bundled the CLI into dist/bevy.mjs (${(bytes / 1e6).toFixed(1)} MB; ${external.length} packages left in node_modules)\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bundling failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
