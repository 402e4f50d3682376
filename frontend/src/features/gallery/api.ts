import { api, unwrap, type Resp } from '@/api/client'

export type GalleryItem = Resp<'/gallery', 'get'>['items'][number]
export type GalleryPage = Resp<'/gallery', 'get'>

export interface GalleryFilters {
  characterId: number | null
  kind: 'image' | 'video' | null
  status: 'pending' | 'approved' | 'rejected' | null
  /** ISO timestamps: outputs created at or after `since`, and before `until` */
  since: string | null
  until: string | null
}

export const emptyFilters = (): GalleryFilters => ({
  characterId: null,
  kind: null,
  status: null,
  since: null,
  until: null,
})

export const galleryApi = {
  page: (projectId: number, filters: GalleryFilters, before: string | null, limit = 120) =>
    unwrap(
      api.GET('/gallery', {
        params: {
          query: {
            project_id: projectId,
            limit,
            ...(filters.characterId ? { character_id: filters.characterId } : {}),
            ...(filters.kind ? { kind: filters.kind } : {}),
            ...(filters.status ? { status: filters.status } : {}),
            ...(filters.since ? { since: filters.since } : {}),
            ...(filters.until ? { until: filters.until } : {}),
            ...(before ? { before } : {}),
          },
        },
      }),
    ),
}
