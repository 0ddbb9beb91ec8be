// Samples the load a node reports in its heartbeats: system CPU and memory (os-utils), and this
// process's event-loop utilisation and RSS (Node's own counters).
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import * as osUtils from 'os-utils'
import { toPermille, type Load } from '../protocol/index.js'

const MB = 1024 * 1024

export class LoadSampler {
  private cpuFraction = 0
  private elu: EventLoopUtilization = performance.eventLoopUtilization()
  private sampling = false

  constructor (private readonly connections: () => number) {}

  /** Starts one CPU measurement in the background; os-utils samples /proc over one second. */
  refreshCpu (): void {
    if (this.sampling) return
    this.sampling = true
    osUtils.cpuUsage((fraction) => {
      this.sampling = false
      this.cpuFraction = fraction
    })
  }

  /** The load since the previous call. */
  sample (): Load {
    const elu = performance.eventLoopUtilization(this.elu)
    this.elu = performance.eventLoopUtilization()
    const total = osUtils.totalmem() * MB
    const free = osUtils.freemem() * MB
    return {
      cpuPermille: toPermille(this.cpuFraction),
      memPermille: total > 0 ? toPermille(1 - free / total) : 0,
      eventLoopPermille: toPermille(elu.utilization),
      rssBytes: process.memoryUsage.rss(),
      memFreeBytes: Math.round(free),
      connections: this.connections()
    }
  }
}
