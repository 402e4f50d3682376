/** The dialogue lines as WebVTT subtitles for the scene player: each shot's line starts where the
 * shot starts on the scene's timeline (where the assembly places its speech) and shows until the
 * shot ends. */
import { timeline, type TimelineShot } from './timeline'

export interface SubtitleShot extends TimelineShot {
  dialogue_text: string
  dialogue_character_id: number | null
}

export interface Cue {
  start: number
  end: number
  text: string
}

export function cues(shots: readonly SubtitleShot[], nameOf: (id: number) => string | undefined): Cue[] {
  const t = timeline(shots)
  const out: Cue[] = []
  shots.forEach((shot, i) => {
    const text = shot.dialogue_text.trim()
    if (!text) return
    const start = t.starts[i]!
    const end = Math.min(start + shot.duration_s, t.duration)
    const name = shot.dialogue_character_id !== null ? nameOf(shot.dialogue_character_id) : undefined
    out.push({ start, end, text: name ? `${name}: ${text}` : text })
  })
  return out
}

/** 00:00:03.500 */
export function vttTime(seconds: number): string {
  const ms = Math.round(Math.max(seconds, 0) * 1000)
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const s = Math.floor((ms % 60_000) / 1000)
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`
}

/** A cue's text may not contain "-->" or blank lines; < and & are escaped. */
const clean = (text: string) =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/-->/g, '→')
    .replace(/\n\s*\n/g, '\n')

export function toVtt(list: readonly Cue[]): string {
  return ['WEBVTT', '', ...list.flatMap((c) => [`${vttTime(c.start)} --> ${vttTime(c.end)}`, clean(c.text), ''])].join(
    '\n',
  )
}
