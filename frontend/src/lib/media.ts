/** What the media grid and the lightbox show of one output (a GalleryItem has all of it; a job's
 * outputs know less until they are fetched from the gallery). */
export interface MediaItem {
  id: number
  kind: 'image' | 'video'
  width: number | null
  height: number | null
  duration_s: number | null
  bytes: number | null
  character_id: number | null
  character_name: string | null
  generation_id: number | null
  created_at: string | null
  dataset_status: string | null
  file_url: string
  thumbnail_url: string
}

/** "1024×1536" or "" when unknown. */
export const sizeLabel = (m: Pick<MediaItem, 'width' | 'height'>) =>
  m.width && m.height ? `${m.width}×${m.height}` : ''

/** The CSS aspect-ratio of an output, square when its size is unknown. */
export const aspect = (m: Pick<MediaItem, 'width' | 'height'>) =>
  m.width && m.height ? `${m.width} / ${m.height}` : '1 / 1'

/** Alt text: there are no captions yet, so say what and whom it shows. */
export const altText = (m: MediaItem) =>
  `${m.kind === 'video' ? 'Video' : 'Image'} ${m.id}${m.character_name ? ` of ${m.character_name}` : ''}`

/** Pixel size of an output fitted inside a box (object-fit: contain), known before the picture
 * loads, so nothing shifts when it arrives; the whole box when the output's size is unknown. */
export function fitInBox(m: Pick<MediaItem, 'width' | 'height'>, boxWidth: number, boxHeight: number) {
  if (!m.width || !m.height) return { width: boxWidth, height: boxHeight }
  const scale = Math.min(boxWidth / m.width, boxHeight / m.height)
  return { width: Math.max(1, Math.round(m.width * scale)), height: Math.max(1, Math.round(m.height * scale)) }
}
