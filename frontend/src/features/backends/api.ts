import { api, unwrap, type Body, type Resp } from '@/api/client'

export type Backend = Resp<'/backends/{backend_id}', 'get'>
export type BackendCreate = Body<'/backends', 'post'>
export type BackendUpdate = Body<'/backends/{backend_id}', 'patch'>
export type BackendJob = Resp<'/farm/jobs', 'get'>[number]
export type Role = BackendCreate['roles'] extends (infer R)[] | undefined ? R : never

export const ROLES: { value: Role; label: string; hint: string }[] = [
  { value: 'keyframe', label: 'Keyframe', hint: 'fast previews' },
  { value: 'worker', label: 'Worker', hint: 'bulk generation' },
  { value: 'hero', label: 'Hero', hint: 'final quality' },
]

const id = (backend_id: number) => ({ params: { path: { backend_id } } })

export const backendApi = {
  list: () => unwrap(api.GET('/backends')),
  get: (backendId: number) => unwrap(api.GET('/backends/{backend_id}', id(backendId))),
  create: (body: BackendCreate) => unwrap(api.POST('/backends', { body })),
  update: (backendId: number, body: BackendUpdate) =>
    unwrap(api.PATCH('/backends/{backend_id}', { ...id(backendId), body })),
  remove: (backendId: number) => unwrap(api.DELETE('/backends/{backend_id}', id(backendId))),
  refresh: (backendId: number) => unwrap(api.POST('/backends/{backend_id}/refresh', id(backendId))),
  /** What each backend runs now (the generations holding its slots). */
  jobs: () => unwrap(api.GET('/farm/jobs')),
}
