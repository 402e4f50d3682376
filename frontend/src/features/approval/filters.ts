import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import type { QueueFilters } from './api'

/** The Approve tab's filters as they appear in the address bar (shareable, back-button safe). */
export interface ApproveQuery {
  character: string | null
  status: QueueFilters['status']
  source: QueueFilters['source']
  score: ScoreBand | null
  verdict: QueueFilters['verdict']
}

export type ScoreBand = 'high' | 'mid' | 'low'

/** Score chips: the bands around the seeded quality gates (auto_reject 0.4, auto_approve 0.8). */
export const SCORE_BANDS: Record<ScoreBand, { label: string; min: number | null; max: number | null }> = {
  high: { label: '≥ 0.8', min: 0.8, max: null },
  mid: { label: '0.4–0.8', min: 0.4, max: 0.8 },
  low: { label: '< 0.4', min: null, max: 0.4 },
}

const one = (v: LocationQuery[string] | undefined) => (typeof v === 'string' && v ? v : null)
const pick = <T extends string>(v: string | null, allowed: readonly T[]): T | null =>
  v !== null && (allowed as readonly string[]).includes(v) ? (v as T) : null

export function readQuery(q: LocationQuery): ApproveQuery {
  return {
    character: one(q.character),
    status: pick(one(q.status), ['pending', 'approved', 'rejected'] as const) ?? 'pending',
    source: pick(one(q.source), ['upload', 'video', 'url', 'generated'] as const),
    score: pick(one(q.score), ['high', 'mid', 'low'] as const),
    verdict: pick(one(q.verdict), ['approve', 'reject', 'none'] as const),
  }
}

export function writeQuery(f: ApproveQuery): LocationQueryRaw {
  const out: LocationQueryRaw = {}
  for (const [k, v] of Object.entries(f)) if (v && !(k === 'status' && v === 'pending')) out[k] = v
  return out
}

export function toApiFilters(q: ApproveQuery, characterId: number | null): QueueFilters {
  const band = q.score ? SCORE_BANDS[q.score] : null
  return {
    characterId,
    status: q.status,
    source: q.source,
    minScore: band?.min ?? null,
    maxScore: band?.max ?? null,
    verdict: q.verdict,
  }
}

export const hasFilters = (q: ApproveQuery) => !!(q.source || q.score || q.verdict)
