import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import type { GalleryFilters } from './api'

/** The gallery's filters as they appear in the address bar (shareable): character by slug,
 * dates as local calendar days, `until` inclusive. */
export interface FilterQuery {
  character: string | null
  kind: GalleryFilters['kind']
  status: GalleryFilters['status']
  since: string | null // YYYY-MM-DD
  until: string | null // YYYY-MM-DD, inclusive
}

const one = (v: LocationQuery[string] | undefined) => (typeof v === 'string' && v ? v : null)
const DAY = /^\d{4}-\d{2}-\d{2}$/

export function readQuery(q: LocationQuery): FilterQuery {
  const kind = one(q.kind)
  const status = one(q.status)
  const since = one(q.since)
  const until = one(q.until)
  return {
    character: one(q.character),
    kind: kind === 'image' || kind === 'video' ? kind : null,
    status: status === 'pending' || status === 'approved' || status === 'rejected' ? status : null,
    since: since && DAY.test(since) ? since : null,
    until: until && DAY.test(until) ? until : null,
  }
}

export function writeQuery(f: FilterQuery): LocationQueryRaw {
  const out: LocationQueryRaw = {}
  for (const [k, v] of Object.entries(f)) if (v) out[k] = v
  return out
}

/** Local midnight of a calendar day as an ISO timestamp; `plusDays` moves it. */
export function dayStart(day: string, plusDays = 0): string {
  const [y, m, d] = day.split('-').map(Number)
  return new Date(y!, m! - 1, d! + plusDays).toISOString()
}

export function toApiFilters(f: FilterQuery, characterId: number | null): GalleryFilters {
  return {
    characterId,
    kind: f.kind,
    status: f.status,
    since: f.since ? dayStart(f.since) : null,
    until: f.until ? dayStart(f.until, 1) : null, // the whole last day
  }
}

export const hasFilters = (f: FilterQuery) => Object.values(f).some(Boolean)
