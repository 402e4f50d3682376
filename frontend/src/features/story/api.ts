import { api, unwrap, type Body, type Resp } from '@/api/client'

export type Storyline = Resp<'/storylines/{storyline_id}', 'get'>
export type StorylineCreate = Body<'/storylines', 'post'>
export type StorylineUpdate = Body<'/storylines/{storyline_id}', 'patch'>
export type Arc = Storyline['arcs'][number]
export type WorldSettings = Resp<'/world-settings/{project_id}', 'get'>
export type WorldSettingsIn = Body<'/world-settings/{project_id}', 'put'>
export type Palette = WorldSettings['palettes'][number]

const sid = (storyline_id: number) => ({ params: { path: { storyline_id } } })
const pid = (project_id: number) => ({ params: { path: { project_id } } })

export const storyApi = {
  storylines: (projectId: number) =>
    unwrap(api.GET('/storylines', { params: { query: { project_id: projectId, limit: 200 } } })),
  createStoryline: (body: StorylineCreate) => unwrap(api.POST('/storylines', { body })),
  updateStoryline: (id: number, body: StorylineUpdate) =>
    unwrap(api.PATCH('/storylines/{storyline_id}', { ...sid(id), body })),
  deleteStoryline: (id: number) => unwrap(api.DELETE('/storylines/{storyline_id}', sid(id))),
  world: (projectId: number) => unwrap(api.GET('/world-settings/{project_id}', pid(projectId))),
  saveWorld: (projectId: number, body: WorldSettingsIn) =>
    unwrap(api.PUT('/world-settings/{project_id}', { ...pid(projectId), body })),
}
