// Whether a node should take new replicas: it stops when its storage reaches --capacity, the
// filesystem runs low or it holds as many clouds as it may, and takes them again only a margin
// below, so a node right at the line does not flip back and forth. Pure.

export interface FullnessInput {
  /** What the node's storage directory occupies. */
  diskBytes: number
  /** The bytes offered for replicas (--capacity, or the free disk at start). */
  capacityBytes: number
  /** Free bytes on the filesystem; 0 when unknown. */
  freeDiskBytes: number
  /** Clouds this node holds a copy of. */
  cloudsHeld: number
  /** Whether the view says the node is full now. */
  wasFull: boolean
}

export interface FullnessLimits {
  maxCloudsPerNode: number
  minFreeDiskBytes: number
  fullResumeMarginPermille: number
}

/** The reason the node is full, or null when it may take new replicas. */
export function fullReason (input: FullnessInput, limits: FullnessLimits): string | null {
  // Full already: resume only once below every limit by the margin.
  const margin = input.wasFull ? limits.fullResumeMarginPermille / 1000 : 0
  if (input.diskBytes >= input.capacityBytes * (1 - margin)) return `storage uses ${input.diskBytes} of ${input.capacityBytes} bytes offered (--capacity)`
  if (input.freeDiskBytes > 0 && input.freeDiskBytes <= limits.minFreeDiskBytes * (1 + margin)) return `only ${input.freeDiskBytes} bytes free on the disk`
  if (input.cloudsHeld >= limits.maxCloudsPerNode * (1 - margin)) return `holds ${input.cloudsHeld} clouds, the most it may (maxCloudsPerNode)`
  return null
}
