// Waiting for an Autobase to be writable: once a writer is admitted (joining the cluster log), or
// again after Autobase dropped the local writer for a moment while it rebooted the view (an
// indexer change). Shared by the cluster log and hosted clouds.
import type Autobase from 'autobase'

/** Resolves true once `base` is writable, false when it closes or `timeoutMs` passes first. */
export function whenWritable (base: Autobase<unknown>, timeoutMs: number): Promise<boolean> {
  if (base.writable) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (writable: boolean): void => {
      clearTimeout(timer)
      base.off('writable', onWritable)
      base.off('update', onWritable)
      base.off('close', onClose)
      resolve(writable)
    }
    const onWritable = (): void => { if (base.writable) done(true) }
    const onClose = (): void => done(false)
    const timer = setTimeout(() => done(false), timeoutMs)
    base.on('writable', onWritable)
    base.on('update', onWritable)
    base.on('close', onClose)
  })
}
