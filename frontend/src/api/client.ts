/** The one HTTP client: openapi-fetch typed from schema.d.ts (generated from the server's
 * OpenAPI schema by `npm run gen:api`). Feature `api.ts` files are thin wrappers around it. */
import createClient from 'openapi-fetch'
import { bases } from './base'
import { ApiError, type ErrorBody } from './errors'
import type { paths } from './schema'

export const api = createClient<paths>({
  baseUrl: bases.apiBase,
  credentials: 'same-origin',
  // looked up per call so tests can stub globalThis.fetch
  fetch: (request: Request) => globalThis.fetch(request),
})

type Json<R> = R extends { content: { 'application/json': infer J } } ? Complete<J> : never

/** The server serialises every field of a response model, including those with defaults (which
 * the generated types mark optional so that request bodies may omit them). */
export type Complete<T> = T extends (infer U)[]
  ? Complete<U>[]
  : T extends Record<string, unknown>
    ? { [K in keyof T]-?: Complete<Exclude<T[K], undefined>> }
    : T
type Ok<Rs> = Rs extends { 200: infer R } ? Json<R> : Rs extends { 201: infer R } ? Json<R> : never

/** The JSON body of a path's successful response: `Resp<'/projects/{project_id}', 'get'>`. */
export type Resp<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer Rs }
  ? Ok<Rs>
  : never

/** The JSON request body of a path. */
export type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer B } }
}
  ? B
  : never

interface FetchResult<T> {
  data?: T
  error?: unknown
  response: Response
}

/** Awaits an openapi-fetch call and returns its data, or throws ApiError with the server's body. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<Complete<T>> {
  let result: FetchResult<T>
  try {
    result = await call
  } catch (e) {
    throw new ApiError(0, {
      detail: `Cannot reach the server (${e instanceof Error ? e.message : e})`,
      code: 'network_error',
    })
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(result.response.status, result.error as Partial<ErrorBody>)
  }
  return result.data as Complete<T>
}
