/** Downloads of an episode's timeline for an editor (EDL, FCP XML, OTIO), with media paths written
 * relative to the export or absolute. */
import { apiUrl } from '@/api/base'
import type { ExportFormat, ExportPaths } from './api'

export const EXPORT_FORMATS: { value: ExportFormat; label: string; hint: string }[] = [
  { value: 'edl', label: 'EDL', hint: 'CMX 3600, for Resolve, Premiere, Avid' },
  { value: 'fcpxml', label: 'FCP XML', hint: 'Final Cut Pro 7 XML, for Premiere and Resolve' },
  { value: 'otio', label: 'OTIO', hint: 'OpenTimelineIO JSON' },
]

export function exportUrl(episodeId: number, format: ExportFormat, paths: ExportPaths, apiBase?: string): string {
  const query = new URLSearchParams({ format, paths })
  return `${apiUrl(`episodes/${episodeId}/export`, apiBase)}?${query}`
}

/** A media address that changes when the episode is assembled again (`version`: the assemblies seen),
 * so a player or picture loads the new file, and stays the same otherwise (publishing, renaming). */
export function versioned(url: string | null, version: number, apiBase?: string): string | null {
  return url ? `${apiUrl(url, apiBase)}?v=${version}` : null
}
