/** Elapsed time and ETA of a generation, from its progress and started_at. */

export interface TimingInput {
  status: string
  progress: number
  started_at: string | null
  finished_at: string | null
}

export interface Timing {
  /** seconds since it started (to its end when finished); null before it starts */
  elapsed: number | null
  /** seconds left, estimated; null when there is nothing to estimate from */
  eta: number | null
}

/** Below this much progress the estimate swings wildly (model loading counts as elapsed time). */
export const MIN_PROGRESS_FOR_ETA = 0.03

export function jobTiming(job: TimingInput, now: number = Date.now()): Timing {
  if (!job.started_at) return { elapsed: null, eta: null }
  const start = Date.parse(job.started_at)
  if (Number.isNaN(start)) return { elapsed: null, eta: null }
  const end = job.finished_at ? Date.parse(job.finished_at) : now
  const elapsed = Math.max(0, (end - start) / 1000)
  if (job.status !== 'running') return { elapsed, eta: null }
  const p = Math.min(Math.max(job.progress, 0), 1)
  if (p >= 1) return { elapsed, eta: 0 }
  if (p < MIN_PROGRESS_FOR_ETA) return { elapsed, eta: null }
  // the rate so far holds for the rest: remaining = elapsed × (1 − p) / p
  return { elapsed, eta: (elapsed * (1 - p)) / p }
}

/** 7 → "7 s", 65 → "1 min 05 s", 3720 → "1 h 02 min". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

export const percent = (progress: number) => `${Math.round(Math.min(Math.max(progress, 0), 1) * 100)}%`
