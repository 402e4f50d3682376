/** The scene's timeline as the assembly builds it (packages/scene_generation/assembly.py
 * `timeline()`): shot i lasts `duration_s`; the join INTO it (its own transition, ignored on the
 * first shot) overlaps the previous shot by `transition_s`, capped at 40% of the shorter of the
 * two; a cut overlaps nothing. The scene lasts the sum of the shots minus the overlaps. */

export const MAX_TRANSITION_SHARE = 0.4
export const DEFAULT_TRANSITION_S = 0.3

export interface TimelineShot {
  duration_s: number
  transition: string
  transition_s: number
}

export interface Timeline {
  /** where each shot starts in the assembled scene, seconds */
  starts: number[]
  /** the overlap of the join into each shot (0 for the first and for cuts) */
  overlaps: number[]
  /** the sum of the shots' own lengths */
  sum: number
  /** what the assembled scene will last */
  duration: number
}

/** The overlap of the join from `previous` into `shot` (0 for a cut). */
export function overlapOf(previous: TimelineShot, shot: TimelineShot): number {
  if (shot.transition === 'cut') return 0
  const wanted = Number.isFinite(shot.transition_s) ? shot.transition_s : 0
  return Math.max(0, Math.min(wanted, MAX_TRANSITION_SHARE * Math.min(previous.duration_s, shot.duration_s)))
}

export function timeline(shots: readonly TimelineShot[]): Timeline {
  const starts: number[] = []
  const overlaps: number[] = []
  let end = 0
  let sum = 0
  shots.forEach((shot, i) => {
    const overlap = i === 0 ? 0 : overlapOf(shots[i - 1]!, shot)
    starts.push(end - overlap)
    overlaps.push(overlap)
    end += shot.duration_s - overlap
    sum += shot.duration_s
  })
  return { starts, overlaps, sum, duration: end }
}

/** "12.4 s", "1:05.0" */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—'
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  const rest = s - m * 60
  return `${m}:${rest.toFixed(1).padStart(4, '0')}`
}
