import { api, unwrap, type Body, type Resp } from '@/api/client'

export type Project = Resp<'/projects/{project_id}', 'get'>
export type ProjectCreate = Body<'/projects', 'post'>
export type ProjectUpdate = Body<'/projects/{project_id}', 'patch'>
export type Style = Resp<'/styles/{style_id}', 'get'>
export type StyleCreate = Body<'/styles', 'post'>
export type StyleUpdate = Body<'/styles/{style_id}', 'patch'>
export type StyleOptions = Resp<'/styles/options', 'get'>

const id = (project_id: number) => ({ params: { path: { project_id } } })

export const projectApi = {
  list: (query: { q?: string; status?: Project['status']; include_archived?: boolean } = {}) =>
    unwrap(api.GET('/projects', { params: { query: { limit: 200, ...query } } })),
  bySlug: (slug: string) => unwrap(api.GET('/projects/by-slug/{slug}', { params: { path: { slug } } })),
  get: (projectId: number) => unwrap(api.GET('/projects/{project_id}', id(projectId))),
  create: (body: ProjectCreate) => unwrap(api.POST('/projects', { body })),
  update: (projectId: number, body: ProjectUpdate) =>
    unwrap(api.PATCH('/projects/{project_id}', { ...id(projectId), body })),
  archive: (projectId: number) => unwrap(api.POST('/projects/{project_id}/archive', id(projectId))),
  restore: (projectId: number) => unwrap(api.POST('/projects/{project_id}/restore', id(projectId))),
}

export const styleApi = {
  list: () => unwrap(api.GET('/styles', { params: { query: { limit: 200 } } })),
  options: () => unwrap(api.GET('/styles/options')),
  create: (body: StyleCreate) => unwrap(api.POST('/styles', { body })),
  update: (styleId: number, body: StyleUpdate) =>
    unwrap(api.PATCH('/styles/{style_id}', { params: { path: { style_id: styleId } }, body })),
  remove: (styleId: number) => unwrap(api.DELETE('/styles/{style_id}', { params: { path: { style_id: styleId } } })),
}
