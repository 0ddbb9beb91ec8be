// Placeholder replaced below.
import type { SimResult } from './simulator.js'
import type { RunArgs } from './report.js'
export function renderHtmlReport (result: SimResult, args: RunArgs): string {
  return `<!doctype html><title>bevy sim ${args.seed}</title><pre>${JSON.stringify(result.summary)}</pre>`
}
