/** How `episode.*` stream events change what the Episodes view shows (pure: the store's reducers).
 * Events carry what changed; the store fetches the full row after each, so a reducer only has to
 * be right and never move a finished run back. */

export type EpisodeStatus = 'draft' | 'assembling' | 'assembled' | 'publishing' | 'published' | 'failed'

export interface LiveEpisode {
  status: EpisodeStatus
  progress: number
  step: string
  error: string | null
  published_path: string | null
}

export interface LiveEvent {
  type: string
  payload: Record<string, unknown>
}

/** What the library scan did after a publish (from `episode.published`). */
export interface ScanResult {
  scanned: boolean
  error: string | null
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const str = (v: unknown) => (typeof v === 'string' ? v : undefined)

export const BUSY: readonly EpisodeStatus[] = ['assembling', 'publishing']
export const isBusy = (e: Pick<LiveEpisode, 'status'>) => BUSY.includes(e.status)

/** The status colours of UI.md (StatusBadge keys). */
export const EPISODE_TONE: Record<EpisodeStatus, string> = {
  draft: 'unknown',
  assembling: 'running',
  assembled: 'approved',
  publishing: 'running',
  published: 'succeeded',
  failed: 'failed',
}

/** An episode (list row or detail) as one event changes it. A progress event that arrives after
 * the run ended (assembled or failed) is late news and changes nothing. */
export function applyEpisodeEvent<E extends LiveEpisode>(episode: E, event: LiveEvent): E {
  const p = event.payload
  const next = { ...episode }
  switch (event.type) {
    case 'episode.assembly_progress': {
      if (episode.status !== 'assembling' && episode.status !== 'draft') break
      next.status = 'assembling'
      const progress = num(p.progress)
      if (progress !== undefined) next.progress = Math.max(episode.progress, Math.min(Math.max(progress, 0), 1))
      if (str(p.step) !== undefined) next.step = str(p.step)!
      next.error = null
      break
    }
    case 'episode.assembled':
      Object.assign(next, { status: 'assembled', progress: 1, step: 'assembled', error: null })
      break
    case 'episode.failed':
      Object.assign(next, { status: 'failed', error: str(p.error) ?? 'failed' })
      break
    case 'episode.published':
      Object.assign(next, { status: 'published', error: null })
      if (str(p.path)) next.published_path = str(p.path)!
      break
  }
  return next
}

/** The library scan result an `episode.published` event reports; null for other events. */
export function scanOf(event: LiveEvent): ScanResult | null {
  if (event.type !== 'episode.published') return null
  const j = event.payload.jellyfin
  if (!j || typeof j !== 'object') return { scanned: false, error: null }
  const r = j as Record<string, unknown>
  return { scanned: r.scanned === true, error: str(r.error) ?? null }
}

/** What to say about Jellyfin next to a published episode: the scan this session saw, else what the
 * health check says can happen. */
export function scanLine(
  scan: ScanResult | null,
  health: { configured: boolean; reachable: boolean | null } | null,
): { tone: 'ok' | 'warn' | 'muted'; text: string } {
  if (scan?.scanned) return { tone: 'ok', text: 'Jellyfin library scan triggered' }
  if (scan?.error) return { tone: 'warn', text: `Jellyfin scan failed: ${scan.error}` }
  if (health && !health.configured) return { tone: 'muted', text: 'Jellyfin not configured: files placed only' }
  if (health?.reachable === false) return { tone: 'warn', text: 'Jellyfin unreachable: files placed, no scan' }
  if (scan) return { tone: 'muted', text: 'No library scan was made' }
  return { tone: 'muted', text: health ? 'Jellyfin connected' : '' }
}

/** "E03" for episode 3. */
export const episodeCode = (n: number) => `E${String(n).padStart(2, '0')}`
