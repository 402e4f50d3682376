/** Scenes and episodes in the Gallery: their assembled videos as cards (pure). They come from the
 * scene and episode lists, not from the outputs' gallery: an assembled video is not an output of
 * one generation. */
import type { Episode } from '@/features/episodes/api'
import { episodeCode } from '@/features/episodes/live'
import type { Scene } from '@/features/scenes/api'
import { dayStart, type ClipKind } from './filters'

export interface ClipItem {
  key: string
  id: number
  kind: ClipKind
  title: string
  /** "Scene 3" or "E02" */
  label: string
  status: string
  duration_s: number | null
  file_url: string
  /** a still to show; null: the card shows the video's first frame */
  thumbnail_url: string | null
  /** when it was last assembled (or changed) */
  updated_at: string
}

const newestFirst = (a: ClipItem, b: ClipItem) => b.updated_at.localeCompare(a.updated_at) || b.id - a.id

/** Scenes that have an assembled video, newest first. */
export function sceneClips(scenes: readonly Scene[]): ClipItem[] {
  return scenes
    .filter((s) => s.output_url)
    .map((s) => ({
      key: `scene-${s.id}`,
      id: s.id,
      kind: 'scene' as const,
      title: s.title,
      label: `Scene ${s.position}`,
      status: s.status,
      duration_s: s.duration_s,
      file_url: s.output_url!,
      thumbnail_url: null,
      updated_at: s.updated_at,
    }))
    .sort(newestFirst)
}

/** Episodes that have an assembled video, newest first. */
export function episodeClips(episodes: readonly Episode[]): ClipItem[] {
  return episodes
    .filter((e) => e.output_url)
    .map((e) => ({
      key: `episode-${e.id}`,
      id: e.id,
      kind: 'episode' as const,
      title: e.title,
      label: episodeCode(e.number),
      status: e.status,
      duration_s: e.duration_s,
      file_url: e.output_url!,
      thumbnail_url: e.thumbnail_url,
      updated_at: e.updated_at,
    }))
    .sort(newestFirst)
}

/** The clips changed within the calendar days `since`..`until` (inclusive; either may be open). */
export function inDays(clips: readonly ClipItem[], since: string | null, until: string | null): ClipItem[] {
  const from = since ? Date.parse(dayStart(since)) : -Infinity
  const to = until ? Date.parse(dayStart(until, 1)) : Infinity
  return clips.filter((c) => {
    const t = Date.parse(c.updated_at)
    return t >= from && t < to
  })
}
