import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import type { GalleryFilters } from './api'

export type ClipKind = 'scene' | 'episode'
export const isClipKind = (kind: FilterQuery['kind']): kind is ClipKind => kind === 'scene' || kind === 'episode'

/** The gallery's filters as they appear in the address bar (shareable): character by slug,
 * dates as local calendar days, `until` inclusive. */
export interface FilterQuery {
  character: string | null
  /** outputs (image, video) come from the gallery; scenes and episodes are their assembled videos */
  kind: GalleryFilters['kind'] | ClipKind
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
    kind: kind === 'image' || kind === 'video' || kind === 'scene' || kind === 'episode' ? kind : null,
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
    kind: isClipKind(f.kind) ? null : f.kind,
    status: f.status,
    since: f.since ? dayStart(f.since) : null,
    until: f.until ? dayStart(f.until, 1) : null, // the whole last day
  }
}

export const hasFilters = (f: FilterQuery) => Object.values(f).some(Boolean)

/** The filters with one of them changed; scenes and episodes have no character or dataset status of
 * their own, so choosing them drops those two. */
export function withFilter<K extends keyof FilterQuery>(f: FilterQuery, key: K, value: FilterQuery[K]): FilterQuery {
  const next = { ...f, [key]: value || null }
  return isClipKind(next.kind) ? { ...next, character: null, status: null } : next
}
