/** The scene strip's order and the "add scene" picker (pure). The server takes a new order as the
 * full list of the episode's scene ids and refuses it (409 `stale_order`) when that set changed
 * meanwhile, so an edit made elsewhere is never lost: the strip goes back and reloads. */
import { moveTo } from '@/features/scenes/reorder'

export interface StripScene {
  scene_id: number
  position: number
  duration_s: number | null
  has_output: boolean
  title: string
}

export interface ProjectScene {
  id: number
  position: number
  title: string
  status: string
  duration_s: number | null
  output_url: string | null
}

const asItems = <S extends StripScene>(list: readonly S[]) => list.map((s) => ({ id: s.scene_id, s }))

/** The strip with scene `sceneId` moved to the 1-based `position`, renumbered. */
export function moveScene<S extends StripScene>(list: readonly S[], sceneId: number, position: number): S[] {
  return moveTo(asItems(list), sceneId, position).map(({ s }, i) =>
    s.position === i + 1 ? s : { ...s, position: i + 1 },
  )
}

export const sceneIds = (list: readonly Pick<StripScene, 'scene_id'>[]) => list.map((s) => s.scene_id)

/** The project's scenes that are not in the episode yet, in story order; finished ones first is not
 * done on purpose: the story order is what the user thinks in. */
export function candidates<P extends ProjectScene>(project: readonly P[], inEpisode: readonly StripScene[]): P[] {
  const taken = new Set(inEpisode.map((s) => s.scene_id))
  return project.filter((s) => !taken.has(s.id)).sort((a, b) => a.position - b.position || a.id - b.id)
}

/** Sum of the scenes' lengths (unknown ones count 0), and how many have no video yet. */
export function stripTotals(list: readonly StripScene[]) {
  return {
    duration: list.reduce((sum, s) => sum + (s.duration_s ?? 0), 0),
    missing: list.filter((s) => !s.has_output).length,
  }
}

/** Why Assemble cannot run now, or null when it can. */
export function assembleBlocker(status: string, list: readonly StripScene[]): string | null {
  if (status === 'assembling' || status === 'publishing') return `The episode is ${status}`
  if (!list.length) return 'Add a scene first'
  const missing = list.filter((s) => !s.has_output)
  if (missing.length === 1) return `“${missing[0]!.title}” has no assembled video yet`
  if (missing.length) return `${missing.length} scenes have no assembled video yet`
  return null
}

/** Where each scene starts in the assembled episode (scenes play back to back; a fade to black
 * happens inside the scenes' own ends, so it moves nothing). */
export function chapters<S extends StripScene>(list: readonly S[]): { scene: S; start: number }[] {
  let at = 0
  return list.map((scene) => {
    const start = at
    at += scene.duration_s ?? 0
    return { scene, start }
  })
}
