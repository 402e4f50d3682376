/** A training run's progress, elapsed time, ETA and duration, from its row (and the clock). */

export interface RunTimingInput {
  status: string
  step: number
  total_steps: number | null
  eta_s: number | null
  started_at: string | null
  finished_at: string | null
}

/** 0..1 of the run's steps; a finished run is full, an unsized one is empty. */
export function runFraction(run: Pick<RunTimingInput, 'status' | 'step' | 'total_steps'>): number {
  if (run.status === 'succeeded') return 1
  if (!run.total_steps || run.total_steps <= 0) return 0
  return Math.min(Math.max(run.step / run.total_steps, 0), 1)
}

/** Below this many steps the rate includes model loading and latent caching, and swings wildly. */
export const MIN_STEPS_FOR_ETA = 3

/** Seconds since the run started (to its end when finished); null before it starts. */
export function runElapsed(run: Pick<RunTimingInput, 'started_at' | 'finished_at'>, now = Date.now()): number | null {
  if (!run.started_at) return null
  const start = Date.parse(run.started_at)
  if (Number.isNaN(start)) return null
  const end = run.finished_at ? Date.parse(run.finished_at) : now
  return Math.max(0, (end - start) / 1000)
}

/** Seconds left for a running run: the steps left at the rate so far (live between row fetches),
 * else the trainer's own estimate (eta_s); null when there is nothing to estimate from. */
export function runEta(run: RunTimingInput, now = Date.now()): number | null {
  if (run.status !== 'running') return null
  const total = run.total_steps ?? 0
  if (total > 0 && run.step >= total) return 0
  const elapsed = runElapsed(run, now)
  if (elapsed !== null && total > 0 && run.step >= MIN_STEPS_FOR_ETA) {
    return (elapsed * (total - run.step)) / run.step
  }
  return run.eta_s !== null && Number.isFinite(run.eta_s) ? Math.max(0, run.eta_s) : null
}

/** Steps per second so far; null before there is a rate. */
export function stepsPerSecond(run: RunTimingInput, now = Date.now()): number | null {
  const elapsed = runElapsed(run, now)
  if (!elapsed || run.step <= 0) return null
  return run.step / elapsed
}

/** The last recorded loss of a series (the run's "final loss" once it is done). */
export function finalLoss(loss: readonly { step: number; loss: number }[]): number | null {
  for (let i = loss.length - 1; i >= 0; i--) if (Number.isFinite(loss[i]!.loss)) return loss[i]!.loss
  return null
}
