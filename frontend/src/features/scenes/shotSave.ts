/** Saving a shot card's fields: each field is sent on its own when it changes (one PATCH), and the
 * server's message is kept next to the field it is about. Saves can overlap (the user moves on
 * while one is in flight): only the latest save of a field may set or clear its message. */
import { ref } from 'vue'
import { mapErrors } from '@/api/errors'
import { confirmAction } from '@/composables/useConfirm'
import { useToasts } from '@/stores/toasts'
import type { Shot, ShotUpdate } from './api'
import { useScenes } from './store'

export const SHOT_FIELDS = [
  'shot_type',
  'camera_angle',
  'duration_s',
  'prompt',
  'negative_prompt',
  'motion_prompt',
  'character_ids',
  'source_output_id',
  'dialogue_character_id',
  'dialogue_text',
  'transition',
  'transition_s',
] as const
export type ShotField = (typeof SHOT_FIELDS)[number]
export type SaveField = <F extends ShotField>(field: F, value: ShotUpdate[F]) => void

export function useShotSave(shot: () => Shot) {
  const store = useScenes()
  const toasts = useToasts()
  const errors = ref<Partial<Record<ShotField, string>>>({})
  const saving = ref(0)
  let sequence = 0
  const latest: Partial<Record<ShotField, number>> = {}

  function setError(field: ShotField, message: string | null) {
    const { [field]: _, ...rest } = errors.value
    errors.value = message ? { ...rest, [field]: message } : rest
  }

  async function send(body: ShotUpdate) {
    const fields = Object.keys(body) as ShotField[]
    const seq = ++sequence
    for (const f of fields) latest[f] = seq
    saving.value++
    try {
      await store.updateShot(shot().id, body)
      for (const f of fields) if (latest[f] === seq) setError(f, null)
    } catch (e) {
      const mapped = mapErrors(e, SHOT_FIELDS)
      for (const f of fields) if (latest[f] === seq) setError(f, mapped.fields[f] ?? null)
      if (!Object.keys(mapped.fields).length) toasts.error(mapped.general.join(' '))
    } finally {
      saving.value--
    }
  }

  const save: SaveField = (field, value) => {
    if (JSON.stringify(shot()[field]) === JSON.stringify(value)) {
      latest[field] = ++sequence // back to the saved value: an older save's message is moot
      setError(field, null)
      return
    }
    send({ [field]: value })
  }

  async function remove() {
    const s = shot()
    const ok = await confirmAction({
      title: `Delete shot ${s.position}?`,
      message: 'The shot and whatever it rendered leave the scene. Later shots move up.',
      confirmLabel: 'Delete shot',
    })
    if (!ok) return
    await store.removeShot(s.id).catch((e) => toasts.error(e instanceof Error ? e.message : String(e)))
  }

  async function redo(count: number) {
    const s = shot()
    const later = count - s.position
    const ok = await confirmAction({
      title: `Redo shot ${s.position}?`,
      message: `It goes back to pending${
        later ? `, and so do the ${later} shot${later === 1 ? '' : 's'} after it (they start from its last frame)` : ''
      }. Press Generate to render again.`,
      confirmLabel: 'Redo',
      danger: false,
    })
    if (!ok) return
    await store.resetShot(s.id).catch((e) => toasts.error(e instanceof Error ? e.message : String(e)))
  }

  return { errors, saving, send, save, remove, redo }
}
