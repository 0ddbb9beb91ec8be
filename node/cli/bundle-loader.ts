// Runs the bundled CLI, dist/bevy.cjs, with V8's code cache (dist/bevy.cjs.cache, written by
// `npm run build`): V8 then deserializes the code it compiled when the cache was made instead of
// parsing 5 MB of JavaScript again, which saves ~80 ms of CPU at every start. A cache that does
// not fit (another Node.js version, a changed bundle) is rejected by V8, which then compiles as
// usual. Node.js 22 does this by itself (module.enableCompileCache); Node.js 20 does not.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { Script, constants } from 'node:vm'
import { packagePath } from '../package-root.js'

export const BUNDLE_PATH = packagePath('dist', 'bevy.cjs')
export const CODE_CACHE_PATH = `${BUNDLE_PATH}.cache`

type Main = (argv: string[]) => Promise<number>

export interface LoadedBundle {
  main: Main
  /** Whether V8 took the cached code: 'rejected' means it compiled the bundle afresh (slower, still correct). */
  codeCache: 'used' | 'rejected' | 'absent'
  /** Writes V8's code for everything the bundle has compiled so far to the cache file. */
  saveCodeCache: () => void
}

function readCodeCache (): Buffer | undefined {
  try {
    return readFileSync(CODE_CACHE_PATH)
  } catch {
    return undefined
  }
}

export function loadBundle (opts: { useCodeCache?: boolean } = {}): LoadedBundle {
  const source = readFileSync(BUNDLE_PATH, 'utf8')
  const cachedData = opts.useCodeCache === false ? undefined : readCodeCache()
  const script = new Script(Module.wrap(source), {
    filename: BUNDLE_PATH,
    ...(cachedData === undefined ? {} : { cachedData }),
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  const module = { exports: {} as { main?: Main } }
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void
  wrapper.call(module.exports, module.exports, createRequire(BUNDLE_PATH), module, BUNDLE_PATH, dirname(BUNDLE_PATH))
  const main = module.exports.main
  if (typeof main !== 'function') throw new Error(`${BUNDLE_PATH} does not export main: run npm run build`)
  const codeCache = cachedData === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'used'
  return { main, codeCache, saveCodeCache: () => writeFileSync(CODE_CACHE_PATH, script.createCachedData()) }
}

/** For the build: compiles what `bevy start` loads (by asking for its help) and caches that code. */
export async function writeCodeCache (): Promise<void> {
  rmSync(CODE_CACHE_PATH, { force: true })
  const bundle = loadBundle({ useCodeCache: false })
  await bundle.main(['start', '--help'])
  bundle.saveCodeCache()
}
