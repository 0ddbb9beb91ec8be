export * from './engine.js'
export * from './liveness.js'
export * from './types.js'
export { weightOf } from './hash.js'
