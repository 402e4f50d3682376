import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { useToasts } from '@/stores/toasts'
import {
  sceneApi,
  type MotionPreset,
  type Scene,
  type SceneCreate,
  type SceneDetail,
  type SceneUpdate,
  type Shot,
  type ShotCreate,
  type ShotUpdate,
} from './api'
import { applySceneEvent, applyShotEvent, isActiveScene, sampleRun, type RunSample } from './live'
import { moveTo } from './reorder'

/** Events about one scene are coalesced into one fetch of its full row (and shots when open). */
export const FETCH_DELAY_MS = 150
const ENDINGS = ['scene.completed', 'scene.failed', 'scene.cancelled']

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
export const sceneOrder = (a: Scene, b: Scene) => a.position - b.position || a.id - b.id
const rowOf = (detail: SceneDetail): Scene => {
  const { shots: _, ...row } = detail
  return row
}
const numbered = (shots: Shot[]) => shots.map((s, i) => (s.position === i + 1 ? s : { ...s, position: i + 1 }))

export interface Render {
  progress: number
  step: string
  /** bumped by each preview frame, so the browser fetches the new one */
  preview: number
}

/** The Scenes tab's data: the project's scenes, the open scene with its shots, the motion presets;
 * live from `scene.*`, `shot.*` and the shots' own `generation.*` events. */
export const useScenes = defineStore('scenes', () => {
  const toasts = useToasts()
  const projectId = ref<number | null>(null)
  const byId = ref<Record<number, Scene>>({})
  const total = ref(0)
  const loaded = ref(false)
  const error = ref('')
  const openId = ref<number | null>(null)
  const detail = ref<SceneDetail | null>(null)
  const detailError = ref('')
  const presets = ref<MotionPreset[]>([])
  /** The live step of each shot of the open scene ("attempt 2: reviewing"), from `shot.progress`. */
  const shotSteps = ref<Record<number, string>>({})
  /** Render progress of the open scene's shots, by generation id. */
  const renders = ref<Record<number, Render>>({})
  /** Progress readings of running scenes (for their ETA), by scene id. */
  const runs = ref<Record<number, RunSample>>({})

  const list = computed(() => Object.values(byId.value).sort(sceneOrder))
  const shots = computed(() => detail.value?.shots ?? [])
  const presetOf = (type: string) => presets.value.find((p) => p.shot_type === type)

  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  const toasted = new Set<string>()
  /** Bumped by every write the UI makes: a fetch started before it may carry the old order. */
  let writes = 0

  function reset() {
    for (const t of timers.values()) clearTimeout(t)
    timers.clear()
    byId.value = {}
    total.value = 0
    loaded.value = false
    error.value = ''
    openId.value = null
    detail.value = null
    detailError.value = ''
    shotSteps.value = {}
    renders.value = {}
    runs.value = {}
  }

  function sample(scene: Scene) {
    if (isActiveScene(scene) && scene.status !== 'queued')
      runs.value = { ...runs.value, [scene.id]: sampleRun(runs.value[scene.id], scene.progress, Date.now()) }
  }

  function put(scene: Scene) {
    if (scene.project_id !== projectId.value) return
    sample(scene)
    if (!byId.value[scene.id]) total.value++
    byId.value = { ...byId.value, [scene.id]: scene }
  }

  function putDetail(next: SceneDetail) {
    put(rowOf(next))
    if (next.id === openId.value)
      detail.value = { ...next, shots: [...next.shots].sort((a, b) => a.position - b.position) }
  }

  /** Replaces the open scene's shots (and the row's count) after a local write. */
  function setShots(next: Shot[]) {
    writes++
    if (!detail.value) return
    detail.value = { ...detail.value, shots: numbered(next), shot_count: next.length }
    const row = byId.value[detail.value.id]
    if (row) byId.value = { ...byId.value, [row.id]: { ...row, shot_count: next.length } }
  }

  async function openProject(id: number) {
    if (projectId.value !== id) {
      reset()
      projectId.value = id
    }
    await load()
  }

  async function load() {
    const id = projectId.value
    if (id === null) return
    try {
      const page = await sceneApi.list(id)
      if (projectId.value !== id) return
      const next: Record<number, Scene> = {}
      for (const s of page.items) next[s.id] = s
      byId.value = next
      total.value = page.total
      error.value = ''
      loaded.value = true
    } catch (e) {
      if (projectId.value === id) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  async function loadPresets() {
    if (presets.value.length) return
    presets.value = await sceneApi.presets()
  }

  /** Opens one scene (its shots); null closes it. */
  async function open(id: number | null) {
    if (openId.value !== id) {
      openId.value = id
      detail.value = null
      detailError.value = ''
      shotSteps.value = {}
      renders.value = {}
    }
    if (id === null) return
    try {
      const next = await sceneApi.get(id)
      if (openId.value === id) {
        detailError.value = ''
        putDetail(next)
      }
    } catch (e) {
      if (openId.value === id) detailError.value = e instanceof Error ? e.message : String(e)
    }
  }

  function fetchSoon(id: number, delay = FETCH_DELAY_MS) {
    clearTimeout(timers.get(id))
    timers.set(
      id,
      setTimeout(async () => {
        timers.delete(id)
        const started = writes
        try {
          const next = await sceneApi.get(id)
          if (started !== writes)
            fetchSoon(id) // a local write landed meanwhile: read again
          else putDetail(next)
        } catch {
          /* gone or unreachable: the events' own fields stay */
        }
      }, delay),
    )
  }

  function patchScene(id: number, change: (s: Scene) => Scene) {
    const row = byId.value[id]
    if (row) {
      const next = change(row)
      byId.value = { ...byId.value, [id]: next }
      sample(next)
    }
    if (detail.value?.id === id) detail.value = { ...detail.value, ...change(rowOf(detail.value)) }
  }

  function toastEnd(event: StreamEvent, id: number) {
    const key = `${id}:${event.id}`
    if (toasted.has(key) || event.type === 'scene.cancelled') return
    toasted.add(key)
    const title = byId.value[id]?.title ?? `Scene #${id}`
    if (event.type === 'scene.completed') {
      const d = num(event.payload.duration_s)
      toasts.push(`“${title}” is assembled${d ? ` (${d.toFixed(1)} s)` : ''}`, { tone: 'success', timeout: 6000 })
    } else {
      const why = typeof event.payload.error === 'string' ? event.payload.error : 'unknown error'
      toasts.push(`“${title}” failed: ${why}`, { tone: 'error', timeout: 10000 })
    }
  }

  /** Live update: a `scene.*` or `shot.*` event of the stream. */
  function applyEvent(event: StreamEvent) {
    const p = event.payload
    const project = num(p.project_id) ?? event.project_id
    const id = num(p.scene_id)
    if (projectId.value === null || project !== projectId.value || id === undefined) return
    if (event.type === 'scene.deleted') {
      if (byId.value[id]) {
        const { [id]: _, ...rest } = byId.value
        byId.value = rest
        total.value = Math.max(0, total.value - 1)
      }
      if (openId.value === id) detail.value = null
      return
    }
    if (event.type === 'shot.progress') {
      const shotId = num(p.shot_id)
      if (detail.value?.id === id && shotId !== undefined) {
        detail.value = {
          ...detail.value,
          shots: detail.value.shots.map((s) => (s.id === shotId ? applyShotEvent(s, event) : s)),
        }
        if (typeof p.step === 'string') shotSteps.value = { ...shotSteps.value, [shotId]: p.step }
      }
    } else {
      patchScene(id, (s) => applySceneEvent(s, event))
    }
    if (ENDINGS.includes(event.type)) toastEnd(event, id)
    // frames, files, scores of kept attempts and counts come with the full row
    fetchSoon(id)
  }

  /** Live update: a `generation.*` event; followed when it renders a shot of the open scene. */
  function applyGenerationEvent(event: StreamEvent) {
    const p = event.payload
    const id = num(p.generation_id)
    if (id === undefined || !detail.value?.shots.some((s) => s.generation_id === id)) return
    const known = renders.value[id] ?? { progress: 0, step: '', preview: 0 }
    renders.value = {
      ...renders.value,
      [id]: {
        progress: num(p.progress) ?? known.progress,
        step: typeof p.step === 'string' ? p.step : known.step,
        preview: known.preview + (p.has_preview === true ? 1 : 0),
      },
    }
  }

  async function createScene(body: SceneCreate) {
    const scene = await sceneApi.create(body)
    put(scene)
    return scene
  }

  async function updateScene(id: number, body: SceneUpdate) {
    const scene = await sceneApi.update(id, body)
    writes++
    patchScene(id, () => scene)
    return scene
  }

  async function removeScene(id: number) {
    await sceneApi.remove(id)
    if (byId.value[id]) {
      const { [id]: _, ...rest } = byId.value
      byId.value = rest
      total.value = Math.max(0, total.value - 1)
    }
    if (openId.value === id) await open(null)
  }

  function requireOpen(): SceneDetail {
    if (!detail.value) throw new Error('No scene is open')
    return detail.value
  }

  async function addShot(body: ShotCreate) {
    const scene = requireOpen()
    const shot = await sceneApi.addShot(scene.id, body)
    if (detail.value?.id !== scene.id) return shot
    const rest = detail.value.shots.filter((s) => s.id !== shot.id)
    rest.splice(Math.min(shot.position - 1, rest.length), 0, shot)
    setShots(rest)
    return shot
  }

  async function updateShot(shotId: number, body: ShotUpdate) {
    const scene = requireOpen()
    const shot = await sceneApi.updateShot(scene.id, shotId, body)
    if (detail.value?.id === scene.id) setShots(detail.value.shots.map((s) => (s.id === shot.id ? shot : s)))
    return shot
  }

  async function removeShot(shotId: number) {
    const scene = requireOpen()
    await sceneApi.removeShot(scene.id, shotId)
    if (detail.value?.id === scene.id) setShots(detail.value.shots.filter((s) => s.id !== shotId))
  }

  /** Moves one shot to a 1-based position: shown at once, then the server's order; put back on error. */
  async function moveShot(shotId: number, position: number) {
    const scene = requireOpen()
    const before = scene.shots
    setShots(moveTo(before, shotId, position))
    try {
      const ordered = await sceneApi.moveShot(scene.id, shotId, position)
      if (detail.value?.id === scene.id) setShots([...ordered].sort((a, b) => a.position - b.position))
    } catch (e) {
      if (detail.value?.id === scene.id) setShots(before)
      throw e
    }
  }

  async function resetShot(shotId: number) {
    const scene = requireOpen()
    await sceneApi.resetShot(scene.id, shotId)
    writes++
    fetchSoon(scene.id, 0) // it and every later shot changed
  }

  async function generate(id: number) {
    const scene = await sceneApi.generate(id)
    writes++
    patchScene(id, () => scene)
    return scene
  }

  async function cancel(id: number) {
    const scene = await sceneApi.cancel(id)
    writes++
    patchScene(id, () => scene)
    return scene
  }

  /** Draft scenes written from the project's story (by Ollama); they join the list. */
  async function fromStory(storylineId: number | null = null) {
    const id = projectId.value
    if (id === null) throw new Error('No project is open')
    const made = await sceneApi.fromStory(id, storylineId)
    for (const d of made) put(rowOf(d))
    return made
  }

  return {
    projectId,
    byId,
    total,
    loaded,
    error,
    openId,
    detail,
    detailError,
    presets,
    shotSteps,
    renders,
    runs,
    list,
    shots,
    presetOf,
    openProject,
    load,
    loadPresets,
    open,
    applyEvent,
    applyGenerationEvent,
    createScene,
    updateScene,
    removeScene,
    addShot,
    updateShot,
    removeShot,
    moveShot,
    resetShot,
    generate,
    cancel,
    fromStory,
  }
})
