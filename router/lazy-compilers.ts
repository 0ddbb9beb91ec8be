// Fastify compiles every route's validator and response serializer when the app starts, and
// builds an Ajv instance (compiling the JSON Schema meta-schema) first: ~100 ms of CPU in a node's
// start, spent mostly on admin routes that a node may never be asked. These compiler factories
// wrap Fastify's own (same Ajv options, same formats, same error objects) and defer each compile,
// and the Ajv instance itself, to the first request that needs it. Ten nodes booting at once on
// two cores wait for one another's CPU, so this is time off every node's start.
// With a custom validator compiler Fastify no longer lower-cases `headers` schemas: write their
// property names in lower case (no route has one today).
import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'

type ValidateFn = ((data: unknown) => unknown) & { errors?: unknown }
type BuildValidator = ReturnType<typeof AjvCompiler>
type BuildSerializer = ReturnType<typeof SerializerSelector>

/** Defers `build` to the first call of the function it returns. */
function once<T> (build: () => T): () => T {
  let built: { value: T } | null = null
  return () => (built ??= { value: build() }).value
}

/** Fastify's Ajv compiler, creating Ajv and each validator only when a request first needs it. */
export function lazyValidatorFactory (): BuildValidator {
  const selector = AjvCompiler()
  return ((externalSchemas, options) => {
    const compiler = once(() => selector(externalSchemas, options))
    return (route: Parameters<ReturnType<BuildValidator>>[0]) => {
      const validator = once(() => (compiler() as unknown as (route: unknown) => ValidateFn)(route))
      // Fastify reads a failed validation's errors off the function it was given.
      const validate: ValidateFn = (data) => {
        const fn = validator()
        const result = fn(data)
        validate.errors = fn.errors
        return result
      }
      return validate
    }
  }) as BuildValidator
}

/** Fastify's fast-json-stringify compiler, building each response serializer on first use. */
export function lazySerializerFactory (): BuildSerializer {
  const selector = SerializerSelector()
  return (externalSchemas, options) => {
    const compiler = once(() => selector(externalSchemas, options))
    return (route) => {
      const serializer = once(() => compiler()(route))
      return (doc: unknown) => serializer()(doc)
    }
  }
}
