import { api, unwrap, type Body, type Resp } from '@/api/client'
import type { MediaItem } from '@/lib/media'

export type Generation = Resp<'/generations/{generation_id}', 'get'>
export type GenerationCreate = Body<'/generations', 'post'>
export type GenerationStatus = Generation['status']
export type Engine = NonNullable<GenerationCreate['engine']>
export type BackendRole = NonNullable<GenerationCreate['role']>

const id = (generation_id: number) => ({ params: { path: { generation_id } } })

export const generationApi = {
  create: (body: GenerationCreate) => unwrap(api.POST('/generations', { body })),
  list: (projectId: number, query: { status?: GenerationStatus; limit?: number; offset?: number } = {}) =>
    unwrap(api.GET('/generations', { params: { query: { project_id: projectId, limit: 50, ...query } } })),
  get: (generationId: number) => unwrap(api.GET('/generations/{generation_id}', id(generationId))),
  cancel: (generationId: number) => unwrap(api.POST('/generations/{generation_id}/cancel', id(generationId))),
  retry: (generationId: number) => unwrap(api.POST('/generations/{generation_id}/retry', id(generationId))),
}

export type RunningJob = Resp<'/jobs/running', 'get'>[number]

/** The worker's background jobs of a project running now (their job.started told it). */
export const jobApi = {
  running: (projectId: number) => unwrap(api.GET('/jobs/running', { params: { query: { project_id: projectId } } })),
}

/** Output files are served relative to the API prefix (see apiUrl). */
export const outputUrls = (outputId: number) => ({
  file_url: `outputs/${outputId}/file`,
  thumbnail_url: `outputs/${outputId}/thumbnail`,
})

const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : null)

/** A job's outputs as media items (their sizes from the job's parameters). */
export function jobMedia(job: Generation): MediaItem[] {
  return job.outputs.map((id) => ({
    id,
    kind: job.kind === 'video' ? 'video' : 'image',
    width: num(job.params.width),
    height: num(job.params.height),
    duration_s: job.kind === 'video' ? num(job.params.duration_s) : null,
    bytes: null,
    character_id: job.character_id,
    character_name: job.character_name,
    generation_id: job.id,
    created_at: job.finished_at,
    dataset_status: null,
    ...outputUrls(id),
  }))
}
