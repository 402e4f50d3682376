/** How `scene.*` and `shot.*` stream events change what the Scenes tab shows (pure: the store's
 * reducers). Events carry what changed; the store refetches full rows after the ones that change
 * more (frames, files, errors), so a reducer only has to be right and never move backwards. */

// partial: stopped by its budget at the last finished shot (the step says why)
export type SceneStatus = 'draft' | 'queued' | 'generating' | 'assembling' | 'done' | 'failed' | 'cancelled' | 'partial'
export type ShotStatus = 'pending' | 'generating' | 'reviewing' | 'done' | 'failed'

export const ACTIVE_SCENE: readonly SceneStatus[] = ['queued', 'generating', 'assembling']
const ENDED: readonly SceneStatus[] = ['done', 'failed', 'cancelled', 'partial']
export const MAX_ATTEMPTS = 3

export interface LiveScene {
  status: SceneStatus
  progress: number
  step: string
  error: string | null
  output_url: string | null
  duration_s: number | null
}

export interface LiveShot {
  status: ShotStatus
  attempt: number
  engine: string | null
  quality_score: number | null
  threshold: number | null
  gate_passed: boolean | null
  generation_id: number | null
  is_animatic: boolean
}

export interface LiveEvent {
  type: string
  payload: Record<string, unknown>
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
const SCENE_STATUSES: readonly string[] = [
  'draft',
  'queued',
  'generating',
  'assembling',
  'done',
  'failed',
  'cancelled',
  'partial',
]
const SHOT_RANK: Record<ShotStatus, number> = { pending: 0, generating: 1, reviewing: 2, done: 3, failed: 3 }

export const isActiveScene = (s: Pick<LiveScene, 'status'>) => ACTIVE_SCENE.includes(s.status)

/** A scene (list row or detail) as one `scene.*` event changes it. A finished scene is not moved
 * back to running by a late progress event; a new run starts with `queued`. */
export function applySceneEvent<S extends LiveScene>(scene: S, event: LiveEvent): S {
  const p = event.payload
  const next = { ...scene }
  switch (event.type) {
    case 'scene.progress': {
      const status = str(p.status)
      if (!status || !SCENE_STATUSES.includes(status)) break
      if (ENDED.includes(scene.status) && status !== 'queued') break // late news of an ended run
      next.status = status as SceneStatus
      const progress = num(p.progress)
      if (progress !== undefined) next.progress = Math.min(Math.max(progress, 0), 1)
      if (str(p.step) !== undefined) next.step = str(p.step)!
      if (status === 'queued') next.error = null
      break
    }
    case 'scene.completed':
      Object.assign(next, { status: 'done', progress: 1, step: 'done', error: null })
      if (str(p.output_url)) next.output_url = str(p.output_url)!
      if (num(p.duration_s) !== undefined) next.duration_s = num(p.duration_s)!
      break
    case 'scene.failed':
      Object.assign(next, { status: 'failed', error: str(p.error) ?? 'failed' })
      break
    case 'scene.cancelled':
      Object.assign(next, { status: 'cancelled' })
      break
  }
  return next
}

/** A shot as one `shot.progress` event changes it. Attempts only go forward, and within an attempt
 * the status only moves on (pending → generating → reviewing → done|failed). */
export function applyShotEvent<S extends LiveShot>(shot: S, event: LiveEvent): S {
  if (event.type !== 'shot.progress') return shot
  const p = event.payload
  const status = str(p.status) as ShotStatus | undefined
  const attempt = num(p.attempt) ?? shot.attempt
  if (!status || !(status in SHOT_RANK)) return shot
  const older = attempt < shot.attempt || (attempt === shot.attempt && SHOT_RANK[status] < SHOT_RANK[shot.status])
  if (older && shot.status !== 'pending') return shot
  const next = { ...shot, status, attempt }
  if (p.engine !== undefined) next.engine = str(p.engine) ?? null
  if (p.engine !== undefined) next.is_animatic = next.engine === 'animatic'
  if (p.quality_score !== undefined) next.quality_score = num(p.quality_score) ?? null
  if (p.threshold !== undefined) next.threshold = num(p.threshold) ?? null
  if (p.gate_passed !== undefined) next.gate_passed = typeof p.gate_passed === 'boolean' ? p.gate_passed : null
  if (num(p.generation_id) !== undefined) next.generation_id = num(p.generation_id)!
  return next
}

/** The scene's progress line: "shot 3/8, attempt 2 · reviewing" while a shot runs. */
export function progressLine(
  scene: Pick<LiveScene, 'status' | 'step'>,
  shots: readonly (Pick<LiveShot, 'status' | 'attempt'> & { position: number })[],
): string {
  if (scene.status === 'assembling') return scene.step || 'assembling'
  if (scene.status === 'queued') return 'queued: waiting for a worker'
  const running = shots.find((s) => s.status === 'generating' || s.status === 'reviewing')
  if (scene.status === 'generating' && running) {
    return `shot ${running.position}/${shots.length}, attempt ${Math.max(running.attempt, 1)}/${MAX_ATTEMPTS} · ${running.status}`
  }
  return scene.step
}

/** What a finished scene was assembled without ("music skipped: ACE-Step ...", one per track): the
 *  job leaves them after "done; " in its step when the voice or the music could not be had. */
export function audioWarnings(scene: Pick<LiveScene, 'status' | 'step'>): string[] {
  if (scene.status !== 'done' || !scene.step.startsWith('done; ')) return []
  return scene.step
    .slice('done; '.length)
    .split(/; (?=(?:dialogue|music) skipped: )/)
    .filter(Boolean)
}

/** "attempt 2/3" (nothing before the first attempt). */
export const attemptLabel = (shot: Pick<LiveShot, 'attempt'>) =>
  shot.attempt > 0 ? `attempt ${shot.attempt}/${MAX_ATTEMPTS}` : ''

/** The status colours of UI.md (StatusBadge keys) for shots and scenes. */
export const SHOT_TONE: Record<ShotStatus, string> = {
  pending: 'pending',
  generating: 'running',
  reviewing: 'running',
  done: 'approved',
  failed: 'failed',
}
export const SCENE_TONE: Record<SceneStatus, string> = {
  draft: 'unknown',
  queued: 'queued',
  generating: 'running',
  assembling: 'running',
  done: 'approved',
  failed: 'failed',
  cancelled: 'cancelled',
  partial: 'pending',
}

/** What the tab has seen of a scene's run: its progress when first seen, and the latest. */
export interface RunSample {
  t0: number
  p0: number
  t: number
  p: number
}

/** Records one progress reading of a run (a new run, or progress going back, starts over). */
export function sampleRun(prev: RunSample | undefined, progress: number, now: number): RunSample {
  if (!prev || progress < prev.p) return { t0: now, p0: progress, t: now, p: progress }
  return { ...prev, t: now, p: progress }
}

/** Below this much progress seen, the rate says little (the first shot includes its start image). */
export const MIN_SEEN_FOR_ETA = 0.05

/** Seconds left at the rate seen so far; null until there is enough to go on. */
export function runEta(sample: RunSample | undefined, now: number): number | null {
  if (!sample) return null
  const seen = sample.p - sample.p0
  if (seen < MIN_SEEN_FOR_ETA || sample.t <= sample.t0) return null
  if (sample.p >= 1) return 0
  const rate = seen / ((sample.t - sample.t0) / 1000)
  // since the last reading the clock ran on: count that time as spent
  return Math.max(0, (1 - sample.p) / rate - (now - sample.t) / 1000)
}
