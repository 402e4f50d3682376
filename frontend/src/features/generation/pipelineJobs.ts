/** The long jobs of the pipeline shown by the top bar's job indicator beside the generations:
 * scene generation, LoRA training runs and episode assembly/publishing. Pure: rows from the API
 * and `scene.*`, `shot.*`, `training.*`, `episode.*` stream events in, one `PipelineJob` each out. */
import type { RouteLocationRaw } from 'vue-router'
import type { StreamEvent } from '@/composables/useLiveUpdates'

export type PipelineKind = 'scene' | 'training' | 'episode'
export type PipelineStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'idle'

export interface PipelineJob {
  key: string
  kind: PipelineKind
  id: number
  projectId: number
  title: string
  status: PipelineStatus
  progress: number
  step: string
  error: string | null
  /** Training only: the character's slug for the Train tab's address (null until known). */
  characterSlug: string | null
}

export const ACTIVE_STATUSES: readonly PipelineStatus[] = ['queued', 'running']
export const isRunningJob = (job: Pick<PipelineJob, 'status'>) => ACTIVE_STATUSES.includes(job.status)
export const jobKey = (kind: PipelineKind, id: number) => `${kind}:${id}`

const KINDS: Record<string, PipelineKind> = { scene: 'scene', shot: 'scene', training: 'training', episode: 'episode' }
const LABEL: Record<PipelineKind, string> = { scene: 'Scene', training: 'Training', episode: 'Episode' }

/** The row's status in the indicator's words. */
export function normalStatus(kind: PipelineKind, status: string): PipelineStatus {
  if (status === 'queued' || status === 'failed' || status === 'cancelled') return status
  if (kind === 'scene')
    return status === 'generating' || status === 'assembling' ? 'running' : status === 'done' ? 'done' : 'idle'
  if (kind === 'training') return status === 'running' ? 'running' : status === 'succeeded' ? 'done' : 'idle'
  if (status === 'assembling' || status === 'publishing') return 'running'
  return status === 'assembled' || status === 'published' ? 'done' : 'idle'
}

function blank(kind: PipelineKind, id: number, projectId: number): PipelineJob {
  return {
    key: jobKey(kind, id),
    kind,
    id,
    projectId,
    title: `${LABEL[kind]} #${id}`,
    status: 'idle',
    progress: 0,
    step: '',
    error: null,
    characterSlug: null,
  }
}

export function fromScene(row: {
  id: number
  project_id: number
  title: string
  status: string
  progress: number
  step: string
  error: string | null
}): PipelineJob {
  return {
    ...blank('scene', row.id, row.project_id),
    title: `Scene: ${row.title}`,
    status: normalStatus('scene', row.status),
    progress: row.progress,
    step: row.step,
    error: row.error,
  }
}

export function fromRun(
  row: {
    id: number
    project_id: number
    character_name: string
    status: string
    step: number
    total_steps: number
    epoch: number
    error: string | null
  },
  characterSlug: string | null = null,
): PipelineJob {
  return {
    ...blank('training', row.id, row.project_id),
    title: `Training: ${row.character_name}`,
    status: normalStatus('training', row.status),
    progress: row.total_steps ? row.step / row.total_steps : 0,
    step: row.total_steps ? `step ${row.step}/${row.total_steps} · epoch ${row.epoch}` : row.status,
    error: row.error,
    characterSlug,
  }
}

export function fromEpisode(row: {
  id: number
  project_id: number
  number: number
  title: string
  status: string
  progress: number
  step: string
  error: string | null
}): PipelineJob {
  return {
    ...blank('episode', row.id, row.project_id),
    title: `Episode ${row.number}: ${row.title}`,
    status: normalStatus('episode', row.status),
    progress: row.progress,
    step: row.step,
    error: row.error,
  }
}

/** The kind and id an event is about, or null for events the indicator does not follow. */
export function eventSubject(event: StreamEvent): { kind: PipelineKind; id: number } | null {
  const kind = KINDS[event.type.split('.')[0]!]
  if (!kind) return null
  const field = kind === 'scene' ? 'scene_id' : kind === 'training' ? 'run_id' : 'episode_id'
  const id = event.payload[field]
  return typeof id === 'number' ? { kind, id } : null
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
const num = (v: unknown) => (typeof v === 'number' ? v : undefined)

/** The job after `event` (`prev` when known; a placeholder titled "Scene #id" otherwise, which the
 * store replaces by the row), or null when the event is about something else. */
export function applyJobEvent(
  prev: PipelineJob | undefined,
  event: StreamEvent,
  projectId: number,
): PipelineJob | null {
  const subject = eventSubject(event)
  if (!subject) return null
  const p = event.payload
  const job: PipelineJob = { ...(prev ?? blank(subject.kind, subject.id, projectId)) }
  const [, action] = event.type.split('.')
  switch (event.type) {
    case 'scene.progress':
    case 'episode.assembly_progress':
      job.status = event.type === 'scene.progress' ? normalStatus('scene', str(p.status) ?? 'generating') : 'running'
      job.progress = num(p.progress) ?? job.progress
      job.step = str(p.step) ?? job.step
      if (job.status === 'queued' || job.status === 'running') job.error = null
      break
    case 'shot.progress':
      if (isRunningJob(job)) job.step = `shot ${num(p.position) ?? '?'}: ${str(p.step) || str(p.status) || ''}`.trim()
      break
    case 'scene.audio_skipped':
      job.step = `${str(p.track) ?? 'audio'} skipped: ${str(p.reason) ?? ''}`
      break
    case 'training.queued':
      Object.assign(job, { status: 'queued', progress: 0, step: 'queued', error: null })
      break
    case 'training.started':
    case 'training.progress': {
      const step = num(p.step) ?? 0
      const total = num(p.total_steps) ?? 0
      job.status = 'running'
      job.progress = total ? step / total : job.progress
      job.step = total ? `step ${step}/${total}${num(p.epoch) !== undefined ? ` · epoch ${p.epoch}` : ''}` : 'starting'
      break
    }
    default:
      if (action === 'completed' || action === 'assembled' || action === 'published') {
        Object.assign(job, { status: 'done', progress: 1, error: null })
        job.step = action === 'completed' ? 'done' : action
      } else if (action === 'failed') {
        Object.assign(job, { status: 'failed', error: str(p.error) ?? 'failed' })
      } else if (action === 'cancelled') {
        Object.assign(job, { status: 'cancelled', step: 'cancelled' })
      } else if (!prev) {
        return null // created, updated, sample, ...: nothing to show for a job not followed yet
      }
  }
  return job
}

/** Whether the store should read the job's row again after `event` (its title or a status the
 * event does not carry, e.g. `episode.updated` when publishing starts). */
export function needsRow(prev: PipelineJob | undefined, event: StreamEvent): boolean {
  if (!prev) return true
  if (prev.title.endsWith(`#${prev.id}`)) return true
  return event.type === 'episode.updated' || (prev.kind === 'training' && prev.characterSlug === null)
}

/** Where the job lives in the app. */
export function jobLink(job: PipelineJob, projectSlug: string): RouteLocationRaw {
  if (job.kind === 'scene') return { name: 'scenes', params: { projectSlug, sceneId: String(job.id) } }
  if (job.kind === 'episode') return { name: 'episodes', params: { projectSlug, episodeId: String(job.id) } }
  return { name: 'train', params: { projectSlug }, query: job.characterSlug ? { character: job.characterSlug } : {} }
}

/** Running first, then queued, then finished ones; within each, the most recent first (by id). */
export function pipelineOrder(a: PipelineJob, b: PipelineJob): number {
  const rank = (j: PipelineJob) => (j.status === 'running' ? 0 : j.status === 'queued' ? 1 : 2)
  return rank(a) - rank(b) || b.id - a.id
}
