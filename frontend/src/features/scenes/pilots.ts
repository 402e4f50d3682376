import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, unwrap, type Body, type Resp } from '@/api/client'
import type { StreamEvent } from '@/composables/useLiveUpdates'

export type Pilot = Resp<'/scenes/{scene_id}/pilots/{pilot_id}', 'get'>
export type Strategy = Pilot['strategies'][number]
export type PilotCreate = Body<'/scenes/{scene_id}/pilots', 'post'>
export type StrategyCreate = PilotCreate['strategies'][number]

const scene = (scene_id: number) => ({ params: { path: { scene_id } } })
const pilot = (scene_id: number, pilot_id: number) => ({ params: { path: { scene_id, pilot_id } } })

export const pilotApi = {
  list: (sceneId: number) => unwrap(api.GET('/scenes/{scene_id}/pilots', scene(sceneId))),
  get: (sceneId: number, pilotId: number) =>
    unwrap(api.GET('/scenes/{scene_id}/pilots/{pilot_id}', pilot(sceneId, pilotId))),
  start: (sceneId: number, body: PilotCreate) =>
    unwrap(api.POST('/scenes/{scene_id}/pilots', { ...scene(sceneId), body })),
  cancel: (sceneId: number, pilotId: number) =>
    unwrap(api.POST('/scenes/{scene_id}/pilots/{pilot_id}/cancel', pilot(sceneId, pilotId))),
  choose: (sceneId: number, pilotId: number, strategyId: number) =>
    unwrap(
      api.POST('/scenes/{scene_id}/pilots/{pilot_id}/choose', {
        ...pilot(sceneId, pilotId),
        body: { strategy_id: strategyId },
      }),
    ),
  heroScene: (sceneId: number) => unwrap(api.POST('/scenes/{scene_id}/hero-pass', scene(sceneId))),
  heroShot: (sceneId: number, shotId: number) =>
    unwrap(
      api.POST('/scenes/{scene_id}/shots/{shot_id}/hero-pass', {
        params: { path: { scene_id: sceneId, shot_id: shotId } },
      }),
    ),
}

/** The open scene's pilots (newest first), live from `pilot.changed` events. */
export const usePilots = defineStore('pilots', () => {
  const sceneId = ref<number | null>(null)
  const items = ref<Pilot[]>([])
  const error = ref('')

  async function load(id: number) {
    if (sceneId.value !== id) items.value = []
    sceneId.value = id
    try {
      const fresh = await pilotApi.list(id)
      if (sceneId.value === id) items.value = fresh
      error.value = ''
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  function put(p: Pilot) {
    if (p.scene_id !== sceneId.value) return
    const i = items.value.findIndex((x) => x.id === p.id)
    items.value = i < 0 ? [p, ...items.value] : items.value.map((x) => (x.id === p.id ? p : x))
  }

  async function start(body: PilotCreate) {
    if (sceneId.value === null) return
    put(await pilotApi.start(sceneId.value, body))
  }

  async function choose(p: Pilot, strategyId: number) {
    put(await pilotApi.choose(p.scene_id, p.id, strategyId))
  }

  async function cancel(p: Pilot) {
    put(await pilotApi.cancel(p.scene_id, p.id))
  }

  /** Live update: a pilot of the open scene changed. */
  function applyEvent(event: StreamEvent) {
    const id = event.payload.pilot_id
    const open = sceneId.value
    if (open === null || event.payload.scene_id !== open || typeof id !== 'number') return
    pilotApi
      .get(open, id)
      .then(put)
      .catch(() => undefined)
  }

  return { sceneId, items, error, load, start, choose, cancel, applyEvent }
})
