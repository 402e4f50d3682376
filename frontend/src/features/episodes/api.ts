import { api, unwrap, type Body, type Resp } from '@/api/client'

export type Episode = Resp<'/episodes/{episode_id}', 'patch'>
export type EpisodeDetail = Resp<'/episodes/{episode_id}', 'get'>
export type EpisodeScene = EpisodeDetail['scenes'][number]
export type EpisodeCreate = Body<'/episodes', 'post'>
export type EpisodeUpdate = Body<'/episodes/{episode_id}', 'patch'>
export type EpisodeStatus = Episode['status']
export type LinkMode = NonNullable<NonNullable<Body<'/episodes/{episode_id}/publish', 'post'>>['link_mode']>
export type JellyfinHealth = Resp<'/jellyfin/health', 'get'>
export type ExportFormat = 'edl' | 'fcpxml' | 'otio'
export type ExportPaths = 'relative' | 'absolute'

const episode = (episode_id: number) => ({ params: { path: { episode_id } } })
const member = (episode_id: number, scene_id: number) => ({ params: { path: { episode_id, scene_id } } })

export const episodeApi = {
  list: (projectSlug: string) => unwrap(api.GET('/episodes', { params: { query: { project: projectSlug } } })),
  get: (episodeId: number) => unwrap(api.GET('/episodes/{episode_id}', episode(episodeId))),
  create: (body: EpisodeCreate) => unwrap(api.POST('/episodes', { body })),
  update: (episodeId: number, body: EpisodeUpdate) =>
    unwrap(api.PATCH('/episodes/{episode_id}', { ...episode(episodeId), body })),
  remove: (episodeId: number) => unwrap(api.DELETE('/episodes/{episode_id}', episode(episodeId))),
  /** Adds a scene at a 1-based position (appended without one). */
  addScene: (episodeId: number, sceneId: number, position?: number) =>
    unwrap(
      api.POST('/episodes/{episode_id}/scenes/{scene_id}', {
        params: { path: { episode_id: episodeId, scene_id: sceneId }, query: position ? { position } : {} },
      }),
    ),
  removeScene: (episodeId: number, sceneId: number) =>
    unwrap(api.DELETE('/episodes/{episode_id}/scenes/{scene_id}', member(episodeId, sceneId))),
  /** The new order of exactly the episode's current scenes; 409 `stale_order` when they changed. */
  reorder: (episodeId: number, sceneIds: number[]) =>
    unwrap(api.PUT('/episodes/{episode_id}/reorder', { ...episode(episodeId), body: { scene_ids: sceneIds } })),
  assemble: (episodeId: number, fadeS: number) =>
    unwrap(api.POST('/episodes/{episode_id}/assemble', { ...episode(episodeId), body: { fade_s: fadeS } })),
  publish: (episodeId: number, linkMode: LinkMode) =>
    unwrap(api.POST('/episodes/{episode_id}/publish', { ...episode(episodeId), body: { link_mode: linkMode } })),
  unpublish: (episodeId: number) => unwrap(api.DELETE('/episodes/{episode_id}/publish', episode(episodeId))),
  jellyfin: () => unwrap(api.GET('/jellyfin/health')),
}
