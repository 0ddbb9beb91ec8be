// Build step (`npm run build`): bundles the compiled CLI into one file, dist/bevy.cjs, and caches
// V8's code for it (see bundle-loader.ts, which bin/bevy.js runs it with). A node that boots loads
// one file instead of resolving, reading and compiling some 1,500 modules: that halves a node's
// CPU time to start (BENCHMARKS.md), which is what ten nodes booting at once on a small machine
// wait for. CommonJS, because only a classic script can be compiled with V8's code cache.
// Left out of the bundle, loaded from node_modules as usual: packages with native addons (they
// find their prebuilt binaries next to their own files), and pino, whose pretty-printing transport
// starts a worker from a file next to its own. (@fastify/swagger reads its package.json through
// __dirname too, but only for document info we always give it.)
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { packagePath } from '../package-root.js'
import { BUNDLE_PATH, CODE_CACHE_PATH, writeCodeCache } from './bundle-loader.js'

const WARM_FLAG = '--write-code-cache'

const READ_OWN_FILES = ['pino', 'pino-pretty', 'thread-stream']
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

// The project's ES modules find their package through import.meta.url, which a CommonJS file lacks.
const BANNER = "const __bevyImportMetaUrl = require('node:url').pathToFileURL(__filename).href;"

async function main (): Promise<void> {
  const external = [...new Set([...nativePackages(packagePath('node_modules')), ...READ_OWN_FILES, ...ADDON_LOADERS])]
  const result = await build({
    entryPoints: [packagePath('dist', 'node', 'cli', 'main.js')],
    outfile: BUNDLE_PATH,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    define: { 'import.meta.url': '__bevyImportMetaUrl' },
    banner: { js: BANNER },
    logLevel: 'warning',
    metafile: true
  })
  const bytes = Object.values(result.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0)
  // In a fresh process, so the cache holds what a start compiles and nothing this build ran.
  const warm = spawnSync(process.execPath, [fileURLToPath(import.meta.url), WARM_FLAG], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (warm.status !== 0) throw new Error(`writing ${CODE_CACHE_PATH} failed (exit ${warm.status ?? warm.signal})`)
  process.stdout.write(`bundled the CLI into dist/bevy.cjs (${(bytes / 1e6).toFixed(1)} MB; ${external.length} packages left in node_modules) and cached its compiled code\n`)
}

const run = process.argv.includes(WARM_FLAG) ? writeCodeCache : main
run().catch((err: unknown) => {
  process.stderr.write(`bundling failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
