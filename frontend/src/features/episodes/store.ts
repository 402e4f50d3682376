import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError } from '@/api/errors'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { useToasts } from '@/stores/toasts'
import {
  episodeApi,
  type Episode,
  type EpisodeCreate,
  type EpisodeDetail,
  type EpisodeScene,
  type EpisodeUpdate,
  type JellyfinHealth,
  type LinkMode,
} from './api'
import { applyEpisodeEvent, scanOf, type ScanResult } from './live'
import { moveScene as moved, sceneIds } from './order'

/** Events about one episode are coalesced into one fetch of its full row (and scenes when open). */
export const FETCH_DELAY_MS = 150

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const byNumber = (a: Episode, b: Episode) => a.number - b.number || a.id - b.id
const rowOf = (detail: EpisodeDetail): Episode => {
  const { scenes: _, ...row } = detail
  return row
}

/** The Episodes view's data: the project's episodes, the open one with its scenes, the library
 * scans this session saw and Jellyfin's health; live from `episode.*` events. */
export const useEpisodes = defineStore('episodes', () => {
  const toasts = useToasts()
  const projectId = ref<number | null>(null)
  const projectSlug = ref<string | null>(null)
  const byId = ref<Record<number, Episode>>({})
  const total = ref(0)
  const loaded = ref(false)
  const error = ref('')
  const openId = ref<number | null>(null)
  const detail = ref<EpisodeDetail | null>(null)
  const detailError = ref('')
  /** The library scan each publish reported (`episode.published`), by episode id. */
  const scans = ref<Record<number, ScanResult>>({})
  const jellyfin = ref<JellyfinHealth | null>(null)
  /** Assemblies finished while the view was open, by episode id: the player's and thumbnail's
   * address carries it, so a new video loads and nothing else (a publish) reloads the old one. */
  const assemblies = ref<Record<number, number>>({})

  const list = computed(() => Object.values(byId.value).sort(byNumber))
  const scenes = computed(() => detail.value?.scenes ?? [])

  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  const toasted = new Set<number>()
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
  }

  function put(row: Episode) {
    if (row.project_id !== projectId.value) return
    if (!byId.value[row.id]) total.value++
    byId.value = { ...byId.value, [row.id]: row }
  }

  function drop(id: number) {
    if (byId.value[id]) {
      const { [id]: _, ...rest } = byId.value
      byId.value = rest
      total.value = Math.max(0, total.value - 1)
    }
    if (openId.value === id) detail.value = null
  }

  function putDetail(next: EpisodeDetail) {
    put(rowOf(next))
    if (next.id === openId.value)
      detail.value = { ...next, scenes: [...next.scenes].sort((a, b) => a.position - b.position) }
  }

  /** The open episode's scenes after a local write (shown at once). */
  function setScenes(next: EpisodeScene[]) {
    writes++
    if (!detail.value) return
    detail.value = { ...detail.value, scenes: next, scene_count: next.length }
    const row = byId.value[detail.value.id]
    if (row) byId.value = { ...byId.value, [row.id]: { ...row, scene_count: next.length } }
  }

  async function openProject(id: number, slug: string) {
    if (projectId.value !== id) {
      reset()
      projectId.value = id
    }
    projectSlug.value = slug
    await load()
  }

  async function load() {
    const id = projectId.value
    const slug = projectSlug.value
    if (id === null || slug === null) return
    try {
      const page = await episodeApi.list(slug)
      if (projectId.value !== id) return
      const next: Record<number, Episode> = {}
      for (const e of page.items) next[e.id] = e
      byId.value = next
      total.value = page.total
      error.value = ''
      loaded.value = true
    } catch (e) {
      if (projectId.value === id) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  async function loadJellyfin() {
    try {
      jellyfin.value = await episodeApi.jellyfin()
    } catch {
      jellyfin.value = null // unknown: the publish panel says nothing about Jellyfin
    }
  }

  /** Opens one episode (its scenes); null closes it. */
  async function open(id: number | null) {
    if (openId.value !== id) {
      openId.value = id
      detail.value = null
      detailError.value = ''
    }
    if (id === null) return
    try {
      const next = await episodeApi.get(id)
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
          const next = await episodeApi.get(id)
          if (started !== writes) fetchSoon(id)
          else putDetail(next)
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) drop(id)
        }
      }, delay),
    )
  }

  function patch(id: number, change: (e: Episode) => Episode) {
    const row = byId.value[id]
    if (row) byId.value = { ...byId.value, [id]: change(row) }
    if (detail.value?.id === id) detail.value = { ...detail.value, ...change(rowOf(detail.value)) }
  }

  function toastEnd(event: StreamEvent, id: number) {
    if (toasted.has(event.id)) return
    toasted.add(event.id)
    const e = byId.value[id]
    const name = e ? `Episode ${e.number} “${e.title}”` : `Episode #${id}`
    if (event.type === 'episode.assembled') toasts.push(`${name} is assembled`, { tone: 'success', timeout: 6000 })
    else if (event.type === 'episode.published') toasts.push(`${name} is published`, { tone: 'success', timeout: 6000 })
    else if (event.type === 'episode.failed') {
      const why = typeof event.payload.error === 'string' ? event.payload.error : 'unknown error'
      toasts.push(`${name} failed: ${why}`, { tone: 'error', timeout: 10000 })
    }
  }

  /** Live update: an `episode.*` event of the stream. */
  function applyEvent(event: StreamEvent) {
    const p = event.payload
    const project = num(p.project_id) ?? event.project_id
    const id = num(p.episode_id)
    if (projectId.value === null || project !== projectId.value || id === undefined) return
    if (event.type === 'episode.deleted') return drop(id)
    patch(id, (e) => applyEpisodeEvent(e, event))
    if (event.type === 'episode.assembled')
      assemblies.value = { ...assemblies.value, [id]: (assemblies.value[id] ?? 0) + 1 }
    const scan = scanOf(event)
    if (scan) scans.value = { ...scans.value, [id]: scan }
    if (['episode.assembled', 'episode.published', 'episode.failed'].includes(event.type)) toastEnd(event, id)
    fetchSoon(id)
  }

  /** Live update: a `scene.*` event; a scene of the open episode that finished, failed or changed
   * has a new video, length or title, so the episode is read again. */
  function applySceneEvent(event: StreamEvent) {
    const id = num(event.payload.scene_id)
    const ep = detail.value
    if (!ep || id === undefined || event.type === 'scene.progress') return
    if (ep.scenes.some((s) => s.scene_id === id)) fetchSoon(ep.id)
  }

  async function create(body: EpisodeCreate) {
    const row = await episodeApi.create(body)
    put(row)
    return row
  }

  async function update(id: number, body: EpisodeUpdate) {
    const row = await episodeApi.update(id, body)
    writes++
    patch(id, () => row)
    return row
  }

  async function remove(id: number) {
    await episodeApi.remove(id)
    drop(id)
    if (openId.value === id) await open(null)
  }

  function requireOpen(): EpisodeDetail {
    if (!detail.value) throw new Error('No episode is open')
    return detail.value
  }

  async function addScene(sceneId: number, position?: number) {
    const ep = requireOpen()
    const next = await episodeApi.addScene(ep.id, sceneId, position)
    writes++
    putDetail(next)
    return next
  }

  async function removeScene(sceneId: number) {
    const ep = requireOpen()
    const next = await episodeApi.removeScene(ep.id, sceneId)
    writes++
    putDetail(next)
    return next
  }

  /** Moves one scene to a 1-based position: shown at once, then the server's order. Refused (the
   * set changed elsewhere: 409) or failed, the strip goes back; on 409 it is reloaded too. */
  async function moveScene(sceneId: number, position: number) {
    const ep = requireOpen()
    const before = ep.scenes
    const order = moved(before, sceneId, position)
    setScenes(order)
    try {
      const next = await episodeApi.reorder(ep.id, sceneIds(order))
      writes++
      putDetail(next)
    } catch (e) {
      if (detail.value?.id === ep.id) setScenes(before)
      if (e instanceof ApiError && e.status === 409) fetchSoon(ep.id, 0)
      throw e
    }
  }

  async function assemble(fadeS: number) {
    const ep = requireOpen()
    const row = await episodeApi.assemble(ep.id, fadeS)
    writes++
    patch(ep.id, () => row)
    return row
  }

  async function publish(linkMode: LinkMode) {
    const ep = requireOpen()
    const row = await episodeApi.publish(ep.id, linkMode)
    writes++
    const { [ep.id]: _, ...rest } = scans.value
    scans.value = rest
    patch(ep.id, () => row)
    return row
  }

  async function unpublish() {
    const ep = requireOpen()
    const row = await episodeApi.unpublish(ep.id)
    writes++
    patch(ep.id, () => row)
    return row
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
    scans,
    jellyfin,
    assemblies,
    list,
    scenes,
    openProject,
    load,
    loadJellyfin,
    open,
    applyEvent,
    applySceneEvent,
    create,
    update,
    remove,
    addScene,
    removeScene,
    moveScene,
    assemble,
    publish,
    unpublish,
  }
})
