// The CLI as tsc left it, one module per file, without the bundle bin/bevy.js runs: bench:boot's baseline.
import { main } from '../../node/cli/main.js'

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
