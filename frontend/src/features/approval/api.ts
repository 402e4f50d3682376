import { api, unwrap, type Body, type Resp } from '@/api/client'

export type ImageRead = Resp<'/images/{image_id}', 'get'>
export type ImageStatus = ImageRead['status']
export type ImageSource = ImageRead['source']
export type ImageSummary = Resp<'/images/summary', 'get'>[number]
export type RejectReason = Resp<'/images/reasons', 'get'>[number]
export type RejectCode = RejectReason['code']
export type BulkAction = Body<'/images/bulk', 'post'>['action']

export interface QueueFilters {
  characterId: number | null
  status: ImageStatus
  source: ImageSource | null
  minScore: number | null
  maxScore: number | null
  verdict: 'approve' | 'reject' | 'none' | null
}

const id = (image_id: number) => ({ params: { path: { image_id } } })

export const approvalApi = {
  list: (projectId: number, f: QueueFilters, offset = 0, limit = 100) =>
    unwrap(
      api.GET('/images', {
        params: {
          query: {
            project_id: projectId,
            status: f.status,
            limit,
            offset,
            ...(f.characterId ? { character_id: f.characterId } : {}),
            ...(f.source ? { source: f.source } : {}),
            ...(f.minScore !== null ? { min_score: f.minScore } : {}),
            ...(f.maxScore !== null ? { max_score: f.maxScore } : {}),
            ...(f.verdict ? { verdict: f.verdict } : {}),
          },
        },
      }),
    ),
  get: (imageId: number) => unwrap(api.GET('/images/{image_id}', id(imageId))),
  summary: (projectId: number) => unwrap(api.GET('/images/summary', { params: { query: { project_id: projectId } } })),
  reasons: () => unwrap(api.GET('/images/reasons')),
  approve: (imageId: number) => unwrap(api.POST('/images/{image_id}/approve', { ...id(imageId), body: {} })),
  reject: (imageId: number, reason: RejectCode) =>
    unwrap(api.POST('/images/{image_id}/reject', { ...id(imageId), body: { reason } })),
  undo: (imageId: number) => unwrap(api.POST('/images/{image_id}/undo', id(imageId))),
  bulk: (ids: number[], action: BulkAction, reason?: RejectCode) =>
    unwrap(api.POST('/images/bulk', { body: { ids, action, ...(reason ? { reason } : {}) } })),
}

// -- vision review, replenishment, auto-correction --------------------------------------------

export type VisionStatus = Resp<'/review/vision/status', 'get'>
export type ReplenishmentStatus = Resp<'/replenishment/status', 'get'>
export type ReplenishmentSettings = ReplenishmentStatus['settings']
export type ReplenishmentCharacter = ReplenishmentStatus['characters'][number]
export type ReplenishmentState = ReplenishmentCharacter['state']
export type ReplenishmentSettingsUpdate = Body<'/replenishment/settings', 'put'>
export type CorrectionSettings = Resp<'/corrections/settings', 'get'>

export const reviewApi = {
  visionStatus: () => unwrap(api.GET('/review/vision/status')),
}

export const replenishmentApi = {
  status: (projectId: number | null) =>
    unwrap(api.GET('/replenishment/status', { params: { query: projectId ? { project_id: projectId } : {} } })),
  toggle: (enabled: boolean) => unwrap(api.POST('/replenishment/toggle', { params: { query: { enabled } } })),
  target: (projectId: number, characterSlug: string, target: number) =>
    unwrap(
      api.POST('/replenishment/target', {
        params: { query: { target, character_slug: characterSlug, project_id: projectId } },
      }),
    ),
  settings: (body: ReplenishmentSettingsUpdate) => unwrap(api.PUT('/replenishment/settings', { body })),
  run: (characterId: number) =>
    unwrap(api.POST('/replenishment/run', { params: { query: { character_id: characterId } } })),
  corrections: () => unwrap(api.GET('/corrections/settings')),
  toggleCorrections: (enabled: boolean) => unwrap(api.POST('/corrections/toggle', { params: { query: { enabled } } })),
}
