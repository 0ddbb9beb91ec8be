// Entry of the load generator process that runLoad (bench/lib/load.ts) forks: argv[2] is the job.
import { loadChild, type LoadJob } from './load.js'

loadChild(JSON.parse(process.argv[2] ?? '{}') as LoadJob).catch((err) => {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1) // must not linger on open handles
})
