import { defineStore } from 'pinia'
import { ref } from 'vue'
import { ApiError } from '@/api/errors'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { backendApi, type Backend, type BackendCreate, type BackendJob, type BackendUpdate } from './api'

/** The ComfyUI backend pool (studio-wide), live from `backend.changed` events. */
export const useBackends = defineStore('backends', () => {
  const items = ref<Backend[]>([])
  const loaded = ref(false)
  const error = ref('')
  /** backends with a request of ours in flight (refresh, toggle), for spinners */
  const busy = ref<Record<number, boolean>>({})
  /** the generations each backend runs now (GET /farm/jobs), progress kept live from events */
  const jobs = ref<BackendJob[]>([])

  function put(backend: Backend) {
    const i = items.value.findIndex((b) => b.id === backend.id)
    const next = i < 0 ? [...items.value, backend] : items.value.map((b) => (b.id === backend.id ? backend : b))
    items.value = next.sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id)
  }

  function drop(id: number) {
    items.value = items.value.filter((b) => b.id !== id)
  }

  async function load() {
    try {
      const [list, running] = await Promise.all([backendApi.list(), backendApi.jobs()])
      items.value = list
      jobs.value = running
      error.value = ''
      loaded.value = true
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  /** Live update: one backend changed (or was removed). */
  async function refreshOne(id: number) {
    if (!loaded.value) return
    try {
      put(await backendApi.get(id))
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) drop(id)
    }
  }

  async function during<T>(id: number, run: () => Promise<T>): Promise<T> {
    busy.value = { ...busy.value, [id]: true }
    try {
      return await run()
    } finally {
      const { [id]: _, ...rest } = busy.value
      busy.value = rest
    }
  }

  async function create(body: BackendCreate) {
    const backend = await backendApi.create(body)
    put(backend)
    return backend
  }

  const update = (id: number, body: BackendUpdate) =>
    during(id, async () => {
      const backend = await backendApi.update(id, body)
      put(backend)
      return backend
    })

  const refresh = (id: number) =>
    during(id, async () => {
      const backend = await backendApi.refresh(id)
      put(backend)
      return backend
    })

  const remove = (id: number) =>
    during(id, async () => {
      await backendApi.remove(id)
      drop(id)
    })

  /** Live update: a running generation's progress (its start and end reload the whole list). */
  function applyProgress(event: StreamEvent) {
    const id = event.payload.generation_id
    const { progress, step } = event.payload
    jobs.value = jobs.value.map((j) =>
      j.generation_id === id
        ? {
            ...j,
            progress: typeof progress === 'number' ? progress : j.progress,
            step: typeof step === 'string' ? step : j.step,
          }
        : j,
    )
  }

  return { items, jobs, loaded, error, busy, load, refreshOne, create, update, refresh, remove, applyProgress }
})
