/** Reading `images.scores`, which holds one of three shapes (or nothing yet):
 * - a vision review: `{reviewer: "vision", model, quality (0..1), character_match, clarity,
 *   training_value (0-10 each), solo, completeness, anatomical_defects, common_error_hits,
 *   species_match?, gender_match?, caption, issues}`
 * - a metrics-only review: `{metrics_only: true, quality (0..1), sharpness, exposure, contrast, resolution}`
 * - a failed vision review: `{vision_error: "..."}`
 * Pure, so the panel's rules are tested on their own. */

export interface Bar {
  key: string
  label: string
  /** 0..max */
  value: number
  max: number
}

export type ReadScores =
  | { kind: 'none' }
  | { kind: 'error'; error: string }
  | {
      kind: 'vision'
      model: string | null
      /** 0..1 */
      quality: number | null
      bars: Bar[]
      solo: boolean | null
      completeness: string | null
      speciesMatch: boolean | null
      genderMatch: boolean | null
      /** anatomical defects, common-error hits and issues: shown as warnings */
      warnings: { kind: 'defect' | 'common-error' | 'issue'; text: string }[]
      caption: string | null
    }
  | { kind: 'metrics'; quality: number | null; bars: Bar[] }
  | { kind: 'other'; quality: number | null; bars: Bar[] }

const VISION_BARS: [string, string][] = [
  ['character_match', 'Character match'],
  ['clarity', 'Clarity'],
  ['training_value', 'Training value'],
]
const METRICS_BARS: [string, string][] = [
  ['sharpness', 'Sharpness'],
  ['exposure', 'Exposure'],
  ['contrast', 'Contrast'],
  ['resolution', 'Resolution'],
]

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null)
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null)
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && !!x) : []
const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max)

function bars(scores: Record<string, unknown>, names: [string, string][], max: number): Bar[] {
  const out: Bar[] = []
  for (const [key, label] of names) {
    const value = num(scores[key])
    if (value !== null) out.push({ key, label, value: clamp(value, max), max })
  }
  return out
}

export function readScores(raw: unknown): ReadScores {
  if (!raw || typeof raw !== 'object') return { kind: 'none' }
  const scores = raw as Record<string, unknown>
  const error = str(scores.vision_error)
  if (error) return { kind: 'error', error }
  const quality = num(scores.quality) === null ? null : clamp(num(scores.quality)!, 1)
  if (scores.reviewer === 'vision') {
    return {
      kind: 'vision',
      model: str(scores.model),
      quality,
      bars: bars(scores, VISION_BARS, 10),
      solo: bool(scores.solo),
      completeness: str(scores.completeness),
      speciesMatch: bool(scores.species_match),
      genderMatch: bool(scores.gender_match),
      warnings: [
        ...strings(scores.anatomical_defects).map((text) => ({ kind: 'defect' as const, text })),
        ...strings(scores.common_error_hits).map((text) => ({ kind: 'common-error' as const, text })),
        ...strings(scores.issues).map((text) => ({ kind: 'issue' as const, text })),
      ],
      caption: str(scores.caption),
    }
  }
  if (scores.metrics_only === true) return { kind: 'metrics', quality, bars: bars(scores, METRICS_BARS, 1) }
  // older rows (a reviewer that stored plain 0..1 numbers): every number but quality as a bar
  const other: Bar[] = Object.entries(scores)
    .filter(([k, v]) => k !== 'quality' && num(v) !== null)
    .map(([k, v]) => ({ key: k, label: k.replace(/_/g, ' '), value: clamp(v as number, 1), max: 1 }))
  if (quality === null && !other.length) return { kind: 'none' }
  return { kind: 'other', quality, bars: other }
}

/** 0.724 -> "72%" */
export const percent = (q: number | null): string => (q === null ? '—' : `${Math.round(q * 100)}%`)

/** The seeded gates (auto_reject 0.4, auto_approve 0.8) colour a quality value. */
export function qualityTone(q: number | null): 'approved' | 'pending' | 'rejected' | 'animatic' {
  if (q === null) return 'animatic'
  if (q >= 0.8) return 'approved'
  if (q < 0.4) return 'rejected'
  return 'pending'
}
