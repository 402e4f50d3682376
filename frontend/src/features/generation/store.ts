import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { useToasts } from '@/stores/toasts'
import { generationApi, type Generation, type GenerationCreate, type GenerationStatus } from './api'

const ACTIVE: GenerationStatus[] = ['queued', 'running']
const FINISHED: GenerationStatus[] = ['succeeded', 'failed', 'cancelled']
const RECENT = 40
/** Events about one job are coalesced into one fetch of its full row. */
export const FETCH_DELAY_MS = 150
/** Jobs finishing within this window share one toast ("3 images ready"). */
export const TOAST_WINDOW_MS = 900

export const isActive = (g: Pick<Generation, 'status'>) => ACTIVE.includes(g.status)

/** Running first (oldest first: they finish first), then queued in the order they will run,
 * then finished ones, newest first. */
export function jobOrder(a: Generation, b: Generation): number {
  const rank = (g: Generation) => (g.status === 'running' ? 0 : g.status === 'queued' ? 1 : 2)
  return rank(a) - rank(b) || (rank(a) < 2 ? a.id - b.id : b.id - a.id)
}

interface Finished {
  id: number
  kind: string
  status: GenerationStatus
  outputs: number
  error: string
}

/** The generation jobs of the open project, live from `generation.*` events. */
export const useGenerations = defineStore('generations', () => {
  const toasts = useToasts()
  const byId = ref<Record<number, Generation>>({})
  /** Generations with a live preview frame: a counter bumped by each `has_preview` event. */
  const previews = ref<Record<number, number>>({})
  const projectId = ref<number | null>(null)
  const loaded = ref(false)
  const error = ref('')
  const total = ref(0)
  const recentShown = ref(RECENT)
  /** The job drawer of the top bar (a toast's "View" opens it). */
  const drawerOpen = ref(false)
  /** Bumped whenever a job stores outputs, so media views (Gallery) fetch what is new. */
  const outputsVersion = ref(0)

  const list = computed(() => Object.values(byId.value).sort(jobOrder))
  const active = computed(() => list.value.filter(isActive))
  const activeCount = computed(() => active.value.length)
  const hasOlder = computed(() => list.value.length < total.value)

  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  const toasted = new Set<number>()
  let batch: Finished[] = []
  let batchTimer: ReturnType<typeof setTimeout> | undefined

  function put(g: Generation) {
    if (g.project_id !== projectId.value) return
    if (!byId.value[g.id]) total.value++
    byId.value = { ...byId.value, [g.id]: g }
  }

  async function load(forProject: number) {
    if (projectId.value !== forProject) {
      byId.value = {}
      loaded.value = false
      recentShown.value = RECENT
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    }
    projectId.value = forProject
    try {
      const [running, queued, recent] = await Promise.all([
        generationApi.list(forProject, { status: 'running', limit: 200 }),
        generationApi.list(forProject, { status: 'queued', limit: 200 }),
        generationApi.list(forProject, { limit: recentShown.value }),
      ])
      if (projectId.value !== forProject) return
      const next: Record<number, Generation> = {}
      for (const g of [...recent.items, ...queued.items, ...running.items]) next[g.id] = g
      byId.value = next
      total.value = recent.total
      error.value = ''
      loaded.value = true
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    }
  }

  /** The next page of finished jobs (offset paging: the list endpoint is newest first). */
  async function loadOlder() {
    if (projectId.value === null) return
    const shown = list.value.length
    const page = await generationApi.list(projectId.value, { limit: RECENT, offset: shown })
    for (const g of page.items) if (!byId.value[g.id]) put(g)
    total.value = page.total // after put(), which counts what it adds
    recentShown.value = shown + RECENT
  }

  function fetchSoon(id: number) {
    clearTimeout(timers.get(id))
    timers.set(
      id,
      setTimeout(async () => {
        timers.delete(id)
        try {
          put(await generationApi.get(id))
        } catch {
          /* gone or unreachable: the event's own fields stay */
        }
      }, FETCH_DELAY_MS),
    )
  }

  function flushToasts() {
    const done = batch
    batch = []
    const ok = done.filter((f) => f.status === 'succeeded')
    const failed = done.filter((f) => f.status === 'failed')
    const view = { label: 'View', run: () => (drawerOpen.value = true) }
    if (ok.length) {
      const images = ok.filter((f) => f.kind === 'image').reduce((n, f) => n + Math.max(f.outputs, 1), 0)
      const videos = ok.filter((f) => f.kind !== 'image').reduce((n, f) => n + Math.max(f.outputs, 1), 0)
      const parts = [
        images ? `${images} image${images === 1 ? '' : 's'}` : '',
        videos ? `${videos} video${videos === 1 ? '' : 's'}` : '',
      ].filter(Boolean)
      toasts.push(`${parts.join(' and ')} ready`, { tone: 'success', action: view, timeout: 5000 })
    }
    if (failed.length === 1) {
      toasts.push(`Generation #${failed[0]!.id} failed: ${failed[0]!.error}`, {
        tone: 'error',
        action: view,
        timeout: 10000,
      })
    } else if (failed.length > 1) {
      toasts.push(`${failed.length} generations failed: ${failed[0]!.error}`, {
        tone: 'error',
        action: view,
        timeout: 10000,
      })
    }
  }

  function finished(f: Finished) {
    if (toasted.has(f.id) || f.status === 'cancelled') return
    toasted.add(f.id)
    batch.push(f)
    clearTimeout(batchTimer)
    batchTimer = setTimeout(flushToasts, TOAST_WINDOW_MS)
  }

  /** Live update: a `generation.*` event of the stream. */
  function applyEvent(event: StreamEvent) {
    const p = event.payload
    const id = typeof p.generation_id === 'number' ? p.generation_id : null
    const project = typeof p.project_id === 'number' ? p.project_id : event.project_id
    if (id === null || project !== projectId.value) return
    const status = (typeof p.status === 'string' ? p.status : undefined) as GenerationStatus | undefined
    const known = byId.value[id]
    if (p.has_preview === true) previews.value = { ...previews.value, [id]: (previews.value[id] ?? 0) + 1 }
    if (known) {
      const patch: Partial<Generation> = {}
      if (status) patch.status = status
      if (typeof p.progress === 'number') patch.progress = p.progress
      if (typeof p.step === 'string') patch.step = p.step
      if (Array.isArray(p.output_ids)) patch.outputs = p.output_ids as number[]
      if (typeof p.error === 'string') patch.error = p.error
      // queued again by a user's retry (an automatic retry keeps the error that caused it)
      if (event.type === 'generation.queued') Object.assign(patch, { error: null, error_code: null, finished_at: null })
      byId.value = { ...byId.value, [id]: { ...known, ...patch } }
    }
    // progress events come several times a second: the event carries what changes, so the full
    // row is fetched only when something else (backend, attempts, times, error) may have changed
    const quiet = event.type === 'generation.progress' && known?.started_at && (!status || status === known.status)
    if (!quiet) fetchSoon(id)
    if (event.type === 'generation.completed') outputsVersion.value++
    if (status && FINISHED.includes(status) && event.type !== 'generation.progress') {
      finished({
        id,
        status,
        kind: known?.kind ?? 'image',
        outputs: Array.isArray(p.output_ids) ? p.output_ids.length : (known?.outputs.length ?? 0),
        error: typeof p.error === 'string' && p.error ? p.error : (known?.error ?? 'unknown error'),
      })
    } else if (event.type === 'generation.queued') toasted.delete(id) // a retry may finish (and toast) again
  }

  /** Makes sure one job is in the list (a link to a generation older than the recent ones). */
  async function ensure(id: number) {
    if (byId.value[id]) return byId.value[id]
    const g = await generationApi.get(id)
    put(g)
    return g
  }

  async function create(body: GenerationCreate) {
    const created = await generationApi.create(body)
    for (const g of created) put(g)
    return created
  }

  async function cancel(id: number) {
    put(await generationApi.cancel(id))
  }

  async function retry(id: number) {
    toasted.delete(id)
    put(await generationApi.retry(id))
  }

  return {
    byId,
    previews,
    projectId,
    loaded,
    error,
    total,
    drawerOpen,
    outputsVersion,
    list,
    active,
    activeCount,
    hasOlder,
    load,
    loadOlder,
    applyEvent,
    ensure,
    create,
    cancel,
    retry,
  }
})
