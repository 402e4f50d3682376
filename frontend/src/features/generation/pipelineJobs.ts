/** The long jobs of the pipeline shown by the top bar's job indicator beside the generations:
 * scene generation, LoRA training runs and episode assembly/publishing, and the worker's other
 * (background) jobs. Pure: rows from the API and `scene.*`, `shot.*`, `training.*`, `episode.*`,
 * `job.*` stream events in, one `PipelineJob` each out. */
import type { RouteLocationRaw } from 'vue-router'
import type { StreamEvent } from '@/composables/useLiveUpdates'

export type PipelineKind = 'scene' | 'training' | 'episode' | 'background'
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
  /** Training and background jobs: the character's slug for the tab's address (null until known). */
  characterSlug: string | null
  /** Background jobs only: the task and the ids it works on. */
  background?: BackgroundRun
}

export interface BackgroundRun {
  task: string // "namespace:name", e.g. "review:metrics"
  /** The job's `*_id` arguments (its other arguments, e.g. a periodic job's timestamp, left out). */
  ids: Record<string, number>
  attempt: number
}

export const ACTIVE_STATUSES: readonly PipelineStatus[] = ['queued', 'running']
export const isRunningJob = (job: Pick<PipelineJob, 'status'>) => ACTIVE_STATUSES.includes(job.status)
export const jobKey = (kind: PipelineKind, id: number) => `${kind}:${id}`

const KINDS: Record<string, PipelineKind> = { scene: 'scene', shot: 'scene', training: 'training', episode: 'episode' }
const LABEL: Record<PipelineKind, string> = {
  scene: 'Scene',
  training: 'Training',
  episode: 'Episode',
  background: 'Job',
}

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

/** Where the job lives in the app: a route, 'echo' (Echo Brain's panel, which has no route), or
 * null (nowhere to go, e.g. housekeeping). */
export function jobLink(job: PipelineJob, projectSlug: string): RouteLocationRaw | 'echo' | null {
  if (job.kind === 'background') return backgroundLink(job, projectSlug)
  if (job.kind === 'scene') return { name: 'scenes', params: { projectSlug, sceneId: String(job.id) } }
  if (job.kind === 'episode') return { name: 'episodes', params: { projectSlug, episodeId: String(job.id) } }
  return { name: 'train', params: { projectSlug }, query: job.characterSlug ? { character: job.characterSlug } : {} }
}

/** Running first, then queued, then finished ones; within each, the most recent first (by id). */
export function pipelineOrder(a: PipelineJob, b: PipelineJob): number {
  const rank = (j: PipelineJob) => (j.status === 'running' ? 0 : j.status === 'queued' ? 1 : 2)
  return rank(a) - rank(b) || b.id - a.id
}

// ---- background jobs: the worker's `job.*` events, for jobs with no lifecycle events of their own

/** Tasks the indicator already follows through their own domain events (generation.*, training.*,
 * scene.*, episode.*): their `job.*` events are ignored, or each such job would show twice. */
export const FOLLOWED_TASKS: ReadonlySet<string> = new Set([
  'generation:run',
  'training:run',
  'scene:run',
  'episode:assemble',
  'episode:publish',
])

/** Upkeep the studio runs by itself after changes (the project memory's re-embedding): listed in
 * the drawer while it runs, never counted in the badge, which counts the work a user waits on. */
export const UPKEEP_TASKS: ReadonlySet<string> = new Set(['echo:sync_memory'])

/** Whether the job counts in the top bar's badge: running, and not upkeep. */
export const countsInBadge = (job: Pick<PipelineJob, 'status' | 'background'>) =>
  isRunningJob(job) && !(job.background && UPKEEP_TASKS.has(job.background.task))

/** Each task in words; unknown tasks show their name. */
export const TASK_TITLES: Record<string, string> = {
  'vision:review': 'Vision review',
  'review:metrics': 'Metrics review',
  'correction:refresh': 'Correction learning',
  'replenish:check': 'Replenishment check',
  'ingestion:run': 'Ingestion',
  'echo:sync_memory': 'Memory sync',
  'farm:run_pilot': 'Pilot',
  'farm:hero_pass': 'Hero pass',
  'team:run': 'Team session',
  // periodic housekeeping: the worker tells only its failures
  'generation:refresh_backends': 'Backend health check',
  'training:sweep': 'Training sweep',
  'ingestion:sweep': 'Ingestion sweep',
  'production:sweep_deliveries': 'Webhook delivery sweep',
  'replenish:sweep': 'Replenishment sweep',
  'core:prune_events': 'Event pruning',
}

/** The argument naming what a job works on (the first found, in this order) and its word. */
const SUBJECTS: readonly [string, string][] = [
  ['character_id', 'character'],
  ['scene_id', 'scene'],
  ['pilot_id', 'pilot'],
  ['session_id', 'session'],
  ['ingestion_id', 'ingestion'],
]

function idsOf(args: unknown): Record<string, number> {
  const ids: Record<string, number> = {}
  if (args && typeof args === 'object')
    for (const [k, v] of Object.entries(args)) if (k.endsWith('_id') && typeof v === 'number') ids[k] = v
  return ids
}

/** One row per task and ids: a later run of the same job replaces the earlier one's row (a success
 * clears its failure), and a periodic job that fails every minute stays one row. */
export function backgroundKey(task: string, ids: Record<string, number>): string {
  const args = Object.keys(ids)
    .sort()
    .map((k) => `${k}=${ids[k]}`)
  return `background:${task}:${args.join(',')}`
}

/** The key of the row a `job.*` event is about, or null when the indicator does not show it. */
export function backgroundKeyOf(event: StreamEvent): string | null {
  const task = str(event.payload.task)
  if (!event.type.startsWith('job.') || !task || FOLLOWED_TASKS.has(task)) return null
  return backgroundKey(task, idsOf(event.payload.args))
}

/** "Vision review · character #3", "Vision review · Mio" (with the character's name), "Pilot #4". */
export function backgroundTitle(run: BackgroundRun, characterName?: string): string {
  const title = TASK_TITLES[run.task] ?? run.task
  const subject = SUBJECTS.find(([arg]) => run.ids[arg] !== undefined)
  if (!subject) return title
  const [arg, word] = subject
  if (arg === 'character_id' && characterName) return `${title} · ${characterName}`
  return title.toLowerCase().endsWith(word) ? `${title} #${run.ids[arg]}` : `${title} · ${word} #${run.ids[arg]}`
}

const seconds = (s: number | undefined) =>
  s === undefined ? '' : s < 60 ? ` in ${s.toFixed(1)} s` : ` in ${Math.round(s / 60)} min`

function backgroundJob(jobId: number, task: string, args: unknown, attempt: number, projectId: number): PipelineJob {
  const run: BackgroundRun = { task, ids: idsOf(args), attempt }
  return {
    ...blank('background', jobId, projectId),
    key: backgroundKey(task, run.ids),
    title: backgroundTitle(run),
    background: run,
  }
}

const started = (job: PipelineJob): PipelineJob => {
  const attempt = job.background?.attempt ?? 1
  return { ...job, status: 'running', step: attempt > 1 ? `attempt ${attempt}` : '' }
}

/** A job a worker runs now (GET /jobs/running) as its `job.started` showed it, for a page opened
 * after it started; null for a task the indicator does not show. */
export function fromRunningJob(
  row: { job_id: number; task: string; attempt: number; args: Record<string, unknown> },
  projectId: number,
): PipelineJob | null {
  if (FOLLOWED_TASKS.has(row.task)) return null
  return started(backgroundJob(row.job_id, row.task, row.args, row.attempt, projectId))
}

/** The row after a `job.*` event (started → running, succeeded → done, failed → failed, or still
 * running when procrastinate retries it), or null for an ignored task or an older run's news. */
export function applyBackgroundEvent(
  prev: PipelineJob | undefined,
  event: StreamEvent,
  projectId: number,
): PipelineJob | null {
  const key = backgroundKeyOf(event)
  const p = event.payload
  const jobId = num(p.job_id)
  if (!key || jobId === undefined || (prev && jobId < prev.id)) return null
  const job = backgroundJob(jobId, str(p.task)!, p.args, num(p.attempt) ?? 1, projectId)
  const error = str(p.error) ?? 'failed'
  const attempt = job.background!.attempt
  switch (event.type) {
    case 'job.started':
      return started(job)
    case 'job.succeeded':
      return { ...job, status: 'done', progress: 1, step: `done${seconds(num(p.duration_s))}` }
    case 'job.failed':
      return p.will_retry === true
        ? { ...job, status: 'running', step: `retrying: attempt ${attempt} failed (${error})` }
        : { ...job, status: 'failed', error }
  }
  return null
}

/** Reviews, replenishment and correction learning → the character's queue in the Approve tab;
 * ingestion → the Approve tab too (its frames wait there; there is no Dataset route); pilots and
 * hero passes → Scenes; team sessions → their view; memory sync → Echo Brain's panel. */
function backgroundLink(job: PipelineJob, projectSlug: string): RouteLocationRaw | 'echo' | null {
  const ids = job.background?.ids ?? {}
  switch (job.background?.task) {
    case 'vision:review':
    case 'review:metrics':
    case 'replenish:check':
    case 'correction:refresh':
      return {
        name: 'approve',
        params: { projectSlug },
        query: job.characterSlug ? { character: job.characterSlug } : {},
      }
    case 'ingestion:run':
      return { name: 'approve', params: { projectSlug } }
    case 'farm:run_pilot':
      return { name: 'scenes', params: { projectSlug } }
    case 'farm:hero_pass':
      return { name: 'scenes', params: { projectSlug, ...(ids.scene_id ? { sceneId: String(ids.scene_id) } : {}) } }
    case 'team:run':
      return ids.session_id ? { name: 'team', params: { projectSlug, sessionId: String(ids.session_id) } } : 'echo'
    case 'echo:sync_memory':
      return 'echo'
  }
  return null
}
