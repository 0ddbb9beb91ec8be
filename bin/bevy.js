#!/usr/bin/env node
// Thin launcher: the CLI is written in TypeScript, compiled to dist/ and bundled into one file,
// dist/bevy.cjs, by `npm install` (prepare) or `npm run build`; it runs with V8's code cache.
import { loadBundle } from '../dist/node/cli/bundle-loader.js'

loadBundle().main(process.argv.slice(2)).then((code) => { process.exitCode = code })
