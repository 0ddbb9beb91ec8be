#!/usr/bin/env node
// Thin launcher: the CLI is written in TypeScript, compiled to dist/ and bundled into one file,
// dist/bevy.mjs, by `npm install` (prepare) or `npm run build`.
import { main } from '../dist/bevy.mjs'

main(process.argv.slice(2)).then((code) => { process.exitCode = code })
