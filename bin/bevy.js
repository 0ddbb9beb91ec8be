#!/usr/bin/env node
// Thin launcher: the CLI is written in TypeScript and compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/node/cli/main.js'

main(process.argv.slice(2)).then((code) => { process.exitCode = code })
