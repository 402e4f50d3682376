import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { approvalApi, type ImageSummary } from '@/features/approval/api'
import { useCharacters } from '@/features/characters/store'
import { useToasts } from '@/stores/toasts'
import {
  trainingApi,
  type BaseModel,
  type Lora,
  type Readiness,
  type RunStatus,
  type TrainingRun,
  type TrainingRunCreate,
} from './api'

const ACTIVE: RunStatus[] = ['queued', 'running']
/** Events that end a run (a toast, and the LoRA list may have grown). */
const ENDINGS: Record<string, RunStatus> = {
  'training.completed': 'succeeded',
  'training.failed': 'failed',
  'training.cancelled': 'cancelled',
}
const STATUS_OF: Record<string, RunStatus> = {
  'training.queued': 'queued',
  'training.started': 'running',
  'training.progress': 'running',
  'training.sample': 'running',
  ...ENDINGS,
}
/** A run's other events are coalesced into one fetch of its full row. */
export const FETCH_DELAY_MS = 150
/** Progress events come several times a second and carry the new loss point; the full row (log
 * tail, the trainer's ETA, memory) is refetched at most this often while they flow (the events are
 * throttled and carry only their last point; the row has every step). */
export const PROGRESS_REFRESH_MS = 1000

export const isActiveRun = (r: Pick<TrainingRun, 'status'>) => ACTIVE.includes(r.status)

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/** A run as one stream event changes it (pure: the store's reducer). Progress appends its loss
 * point (in step order, no duplicates), a sample appends its image, and each type sets the
 * status it implies; a finished run is never moved back to running by a late progress event. */
export function applyRunEvent(run: TrainingRun, event: Pick<StreamEvent, 'type' | 'payload'>): TrainingRun {
  const p = event.payload
  const next: TrainingRun = { ...run }
  const status = STATUS_OF[event.type]
  const finished = !ACTIVE.includes(run.status)
  if (status && !(finished && ACTIVE.includes(status) && event.type !== 'training.queued')) next.status = status
  if (event.type === 'training.queued') Object.assign(next, { error: null, finished_at: null })
  if (event.type === 'training.progress' && !finished) {
    const step = num(p.step)
    const total = num(p.total_steps)
    const epoch = num(p.epoch)
    const loss = num(p.loss)
    if (step !== undefined && step >= run.step) next.step = step
    if (total !== undefined) next.total_steps = total
    if (epoch !== undefined) next.epoch = epoch
    const last = run.loss[run.loss.length - 1]
    if (step !== undefined && loss !== undefined && (!last || step > last.step))
      next.loss = [...run.loss, { step, loss }]
  }
  if (event.type === 'training.sample') {
    const step = num(p.step)
    const url = typeof p.url === 'string' ? p.url : null
    if (step !== undefined && url && !run.samples.some((s) => s.url === url)) {
      next.samples = [...run.samples, { step, url }]
    }
  }
  if (event.type === 'training.failed' && typeof p.error === 'string') next.error = p.error
  return next
}

/** Newest first (the list endpoint's order). */
export const runOrder = (a: TrainingRun, b: TrainingRun) => b.id - a.id

/** The Train tab's data: one character's runs, readiness and LoRAs, the base models, and the
 * project's approved counts; live from `training.*` and approval events. */
export const useTraining = defineStore('training', () => {
  const toasts = useToasts()
  const characters = useCharacters()
  const projectId = ref<number | null>(null)
  const characterId = ref<number | null>(null)
  const byId = ref<Record<number, TrainingRun>>({})
  const total = ref(0)
  const loaded = ref(false)
  const error = ref('')
  const readiness = ref<Readiness | null>(null)
  const loras = ref<Lora[]>([])
  const summary = ref<ImageSummary[]>([])
  const baseModels = ref<BaseModel[] | null>(null)
  const baseModelsError = ref('')
  /** The run shown in the run panel when picked from the history (null: the newest one). */
  const selectedId = ref<number | null>(null)

  const list = computed(() => Object.values(byId.value).sort(runOrder))
  const active = computed(() => list.value.find(isActiveRun) ?? null)
  const shown = computed(
    () => (selectedId.value !== null ? byId.value[selectedId.value] : undefined) ?? list.value[0] ?? null,
  )
  const activeLora = computed(() => loras.value.find((l) => l.active) ?? null)
  const hasOlder = computed(() => list.value.length < total.value)
  const approvedOf = (id: number) => summary.value.find((s) => s.character_id === id)?.approved ?? 0

  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  const later = new Map<string, ReturnType<typeof setTimeout>>()
  const toasted = new Set<number>()

  function reset() {
    for (const t of timers.values()) clearTimeout(t)
    timers.clear()
    byId.value = {}
    total.value = 0
    loaded.value = false
    readiness.value = null
    loras.value = []
    selectedId.value = null
    error.value = ''
  }

  function put(run: TrainingRun) {
    if (run.character_id !== characterId.value) return
    if (!byId.value[run.id]) total.value++
    byId.value = { ...byId.value, [run.id]: run }
  }

  async function refreshSummary() {
    const id = projectId.value
    if (id === null) return
    const rows = await approvalApi.summary(id)
    if (projectId.value === id) summary.value = rows
  }

  async function refreshReadiness() {
    const id = characterId.value
    if (id === null) return
    const r = await trainingApi.readiness(id)
    if (characterId.value === id) readiness.value = r
  }

  async function refreshLoras() {
    const id = characterId.value
    if (id === null) return
    const rows = await trainingApi.loras(id)
    if (characterId.value === id) loras.value = rows
  }

  /** Points the store at a project (its approved counts). */
  async function openProject(id: number) {
    if (projectId.value !== id) {
      projectId.value = id
      characterId.value = null
      summary.value = []
      reset()
    }
    await refreshSummary().catch(() => undefined)
  }

  /** Loads one character's runs, readiness and LoRAs. */
  async function openCharacter(id: number) {
    if (characterId.value !== id) {
      reset()
      characterId.value = id
    }
    try {
      const [page, ready, rows] = await Promise.all([
        trainingApi.list(id),
        trainingApi.readiness(id),
        trainingApi.loras(id),
      ])
      if (characterId.value !== id) return
      const next: Record<number, TrainingRun> = {}
      for (const r of page.items) next[r.id] = r
      byId.value = next
      total.value = page.total
      readiness.value = ready
      loras.value = rows
      error.value = ''
      loaded.value = true
    } catch (e) {
      if (characterId.value === id) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  async function loadOlder() {
    const id = characterId.value
    if (id === null) return
    const page = await trainingApi.list(id, { offset: list.value.length })
    if (characterId.value !== id) return
    for (const r of page.items) if (!byId.value[r.id]) put(r)
    total.value = page.total
  }

  async function loadBaseModels() {
    try {
      baseModels.value = await trainingApi.baseModels()
      baseModelsError.value = ''
    } catch (e) {
      baseModelsError.value = e instanceof Error ? e.message : String(e)
    }
  }

  function fetchRun(id: number, delay: number, throttle: boolean) {
    if (throttle && timers.has(id)) return
    clearTimeout(timers.get(id))
    timers.set(
      id,
      setTimeout(async () => {
        timers.delete(id)
        try {
          put(await trainingApi.get(id))
        } catch {
          /* gone or unreachable: the events' own fields stay */
        }
      }, delay),
    )
  }

  function soon(key: string, run: () => Promise<unknown>) {
    clearTimeout(later.get(key))
    later.set(
      key,
      setTimeout(() => {
        later.delete(key)
        run().catch(() => undefined)
      }, 300),
    )
  }

  function toastEnd(run: { id: number; name: string; status: RunStatus; error: string }) {
    if (toasted.has(run.id) || run.status === 'cancelled') return
    toasted.add(run.id)
    if (run.status === 'succeeded') {
      toasts.push(`LoRA for ${run.name} is ready (run #${run.id})`, { tone: 'success', timeout: 6000 })
    } else {
      toasts.push(`Training run #${run.id} for ${run.name} failed: ${run.error}`, { tone: 'error', timeout: 10000 })
    }
  }

  /** Live update: a `training.*` event, or an approval decision (counts and readiness change). */
  function applyEvent(event: StreamEvent) {
    const p = event.payload
    const project = num(p.project_id) ?? event.project_id
    if (projectId.value === null || project !== projectId.value) return
    const character = num(p.character_id)
    const [domain] = event.type.split('.')
    if (domain === 'image' || domain === 'feedback') {
      soon('summary', refreshSummary)
      if (character === characterId.value) soon('readiness', refreshReadiness)
      return
    }
    if (domain !== 'training') return
    const id = num(p.run_id)
    if (id === undefined) return
    const known = byId.value[id]
    if (known) byId.value = { ...byId.value, [id]: applyRunEvent(known, event) }
    if (character === characterId.value || known) {
      // progress carries what changes; the row (every loss point, log tail, ETA) follows at most once a second
      const progress = event.type === 'training.progress' || event.type === 'training.sample'
      if (progress && known) fetchRun(id, PROGRESS_REFRESH_MS, true)
      else fetchRun(id, FETCH_DELAY_MS, false)
    }
    const ended = ENDINGS[event.type]
    if (ended) {
      if (character === characterId.value) soon('loras', refreshLoras)
      // a success becomes the character's active LoRA (characters.lora_id)
      if (ended === 'succeeded' && character !== undefined)
        soon(`character:${character}`, () => characters.refresh(character))
      toastEnd({
        id,
        status: ended,
        name: known?.character_name ?? (typeof p.character_name === 'string' ? p.character_name : 'the character'),
        error: typeof p.error === 'string' && p.error ? p.error : (known?.error ?? 'unknown error'),
      })
    } else if (event.type === 'training.queued') toasted.delete(id)
  }

  async function create(body: TrainingRunCreate) {
    const run = await trainingApi.create(body)
    put(run)
    selectedId.value = null
    return run
  }

  async function cancel(id: number) {
    put(await trainingApi.cancel(id))
  }

  /** Makes the run's LoRA the character's active one. */
  async function use(id: number) {
    const lora = await trainingApi.use(id)
    loras.value = [...loras.value.filter((l) => l.id !== lora.id).map((l) => ({ ...l, active: false })), lora]
    await Promise.all([refreshLoras(), characters.refresh(lora.character_id)]).catch(() => undefined)
    return lora
  }

  function select(id: number | null) {
    selectedId.value = id
  }

  return {
    projectId,
    characterId,
    byId,
    total,
    loaded,
    error,
    readiness,
    loras,
    summary,
    baseModels,
    baseModelsError,
    selectedId,
    list,
    active,
    shown,
    activeLora,
    hasOlder,
    approvedOf,
    openProject,
    openCharacter,
    loadOlder,
    loadBaseModels,
    refreshReadiness,
    applyEvent,
    create,
    cancel,
    use,
    select,
  }
})
