import { api, unwrap, type Body, type Resp } from '@/api/client'

export type SceneDetail = Resp<'/scenes/{scene_id}', 'get'>
export type Scene = Resp<'/scenes', 'get'>['items'][number]
export type Shot = SceneDetail['shots'][number]
export type ShotAttempt = Shot['attempts'][number]
export type MotionPreset = Resp<'/scenes/presets', 'get'>[number]
export type SceneCreate = Body<'/scenes', 'post'>
export type SceneUpdate = Body<'/scenes/{scene_id}', 'patch'>
export type ShotCreate = Body<'/scenes/{scene_id}/shots', 'post'>
export type ShotUpdate = Body<'/scenes/{scene_id}/shots/{shot_id}', 'patch'>
export type ShotType = Shot['shot_type']
export type Transition = Shot['transition']

const scene = (scene_id: number) => ({ params: { path: { scene_id } } })
const shot = (scene_id: number, shot_id: number) => ({ params: { path: { scene_id, shot_id } } })

export const sceneApi = {
  presets: () => unwrap(api.GET('/scenes/presets')),
  list: (projectId: number, query: { limit?: number; offset?: number } = {}) =>
    unwrap(api.GET('/scenes', { params: { query: { project_id: projectId, limit: 200, ...query } } })),
  get: (sceneId: number) => unwrap(api.GET('/scenes/{scene_id}', scene(sceneId))),
  create: (body: SceneCreate) => unwrap(api.POST('/scenes', { body })),
  update: (sceneId: number, body: SceneUpdate) => unwrap(api.PATCH('/scenes/{scene_id}', { ...scene(sceneId), body })),
  remove: (sceneId: number) => unwrap(api.DELETE('/scenes/{scene_id}', scene(sceneId))),
  generate: (sceneId: number) => unwrap(api.POST('/scenes/{scene_id}/generate', scene(sceneId))),
  cancel: (sceneId: number) => unwrap(api.POST('/scenes/{scene_id}/cancel', scene(sceneId))),
  fromStory: (projectId: number, storylineId: number | null = null) =>
    unwrap(api.POST('/scenes/generate-from-story', { body: { project_id: projectId, storyline_id: storylineId } })),

  addShot: (sceneId: number, body: ShotCreate) =>
    unwrap(api.POST('/scenes/{scene_id}/shots', { ...scene(sceneId), body })),
  updateShot: (sceneId: number, shotId: number, body: ShotUpdate) =>
    unwrap(api.PATCH('/scenes/{scene_id}/shots/{shot_id}', { ...shot(sceneId, shotId), body })),
  removeShot: (sceneId: number, shotId: number) =>
    unwrap(api.DELETE('/scenes/{scene_id}/shots/{shot_id}', shot(sceneId, shotId))),
  /** One position operation: the shot goes to the 1-based `position`; the answer is the scene's
   * shots in their new order. */
  moveShot: (sceneId: number, shotId: number, position: number) =>
    unwrap(
      api.POST('/scenes/{scene_id}/shots/{shot_id}/move', {
        params: { path: { scene_id: sceneId, shot_id: shotId }, query: { position } },
      }),
    ),
  /** The shot and every later one go back to pending (later shots chain from it). */
  resetShot: (sceneId: number, shotId: number) =>
    unwrap(api.POST('/scenes/{scene_id}/shots/{shot_id}/reset', shot(sceneId, shotId))),
}
