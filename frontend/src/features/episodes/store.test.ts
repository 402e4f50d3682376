import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import type { EpisodeDetail, EpisodeScene } from './api'
import { FETCH_DELAY_MS, useEpisodes } from './store'

const T = '2026-03-01T10:00:00Z'

const scene = (scene_id: number, position: number): EpisodeScene => ({
  position,
  scene_id,
  title: `Scene ${scene_id}`,
  status: 'done',
  duration_s: 2,
  thumbnail_url: null,
  has_output: true,
})

function detail(scenes: EpisodeScene[], over: Partial<EpisodeDetail> = {}): EpisodeDetail {
  return {
    id: 4,
    project_id: 7,
    number: 1,
    title: 'Pilot',
    description: '',
    story_arc: '',
    status: 'draft',
    progress: 0,
    step: '',
    error: null,
    duration_s: null,
    output_url: null,
    thumbnail_url: null,
    published_path: null,
    published_at: null,
    scene_count: scenes.length,
    created_at: T,
    updated_at: T,
    scenes,
    ...over,
  }
}

let seq = 0
const event = (type: string, payload: Record<string, unknown>, projectId = 7): StreamEvent => ({
  id: ++seq,
  type,
  project_id: projectId,
  payload: { project_id: projectId, episode_id: 4, ...payload },
  at: '',
})
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('episodes store', () => {
  let server: EpisodeDetail
  let reorderAnswer: (body: { scene_ids: number[] }) => Response
  let calls: string[]

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
    server = detail([scene(10, 1), scene(20, 2), scene(30, 3)])
    calls = []
    reorderAnswer = () => json({ detail: 'The scenes of the episode changed', code: 'stale_order' }, 409)
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        calls.push(`${request.method} ${url.pathname}${url.search}`)
        if (url.pathname.endsWith('/episodes')) return json({ items: [server], total: 1 })
        if (url.pathname.endsWith('/episodes/4')) return json(server)
        if (url.pathname.endsWith('/reorder')) return reorderAnswer(await request.json())
        return json({ detail: 'nope', code: 'not_found' }, 404)
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  async function opened() {
    const store = useEpisodes()
    await store.openProject(7, 'harbor')
    await store.open(4)
    return store
  }

  it('lists the episodes of the project by its slug', async () => {
    const store = await opened()
    expect(calls[0]).toBe('GET /api/lora/episodes?project=harbor')
    expect(store.list.map((e) => e.id)).toEqual([4])
  })

  it('a move shows at once and sends exactly the current scenes in their new order', async () => {
    const store = await opened()
    let sent: number[] = []
    reorderAnswer = (body) => {
      sent = body.scene_ids
      return json(detail([scene(30, 1), scene(10, 2), scene(20, 3)]))
    }
    const moving = store.moveScene(30, 1)
    expect(store.scenes.map((s) => [s.scene_id, s.position])).toEqual([
      [30, 1],
      [10, 2],
      [20, 3],
    ])
    await moving
    expect(sent).toEqual([30, 10, 20])
    expect(store.scenes.map((s) => s.scene_id)).toEqual([30, 10, 20])
  })

  it('a stale order (409) puts the strip back, throws, and reads the episode again', async () => {
    const store = await opened()
    server = detail([scene(10, 1), scene(20, 2), scene(30, 3), scene(40, 4)]) // added elsewhere
    await expect(store.moveScene(30, 1)).rejects.toThrow('The scenes of the episode changed')
    expect(store.scenes.map((s) => s.scene_id)).toEqual([10, 20, 30])
    await vi.advanceTimersByTimeAsync(10)
    expect(store.scenes.map((s) => s.scene_id)).toEqual([10, 20, 30, 40])
  })

  it('follows assembly live, then reads the episode once; only a new assembly reloads the video', async () => {
    const store = await opened()
    store.applyEvent(event('episode.assembly_progress', { progress: 0.5, step: 'joining' }))
    store.applyEvent(event('episode.assembly_progress', { progress: 0.7, step: 'thumbnail' }))
    expect(store.detail).toMatchObject({ status: 'assembling', progress: 0.7, step: 'thumbnail' })
    expect(store.byId[4]?.status).toBe('assembling')
    const before = calls.length
    server = detail(server.scenes, { status: 'assembled', output_url: 'episodes/4/video', duration_s: 6 })
    expect(store.assemblies[4]).toBeUndefined()
    store.applyEvent(event('episode.assembled', { output_url: 'episodes/4/video', duration_s: 6 }))
    expect(store.assemblies[4]).toBe(1) // the player loads the new video
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 10)
    expect(calls.slice(before)).toEqual(['GET /api/lora/episodes/4'])
    expect(store.detail?.output_url).toBe('episodes/4/video')
    store.applyEvent(event('episode.published', { path: '/lib/a.mp4', jellyfin: { scanned: true } }))
    expect(store.assemblies[4]).toBe(1) // a publish does not reload it
  })

  it('keeps the library scan a publish reported; ignores other projects; forgets a deleted episode', async () => {
    const store = await opened()
    store.applyEvent(event('episode.published', { path: '/lib/a.mp4', jellyfin: { scanned: true } }))
    expect(store.scans[4]).toEqual({ scanned: true, error: null })
    expect(store.detail?.published_path).toBe('/lib/a.mp4')
    store.applyEvent(event('episode.failed', { error: 'x' }, 8))
    expect(store.detail?.status).toBe('published')
    store.applyEvent(event('episode.deleted', {}))
    expect(store.detail).toBeNull()
    expect(store.list).toEqual([])
  })

  it("a change to one of the open episode's scenes reads the episode again", async () => {
    const store = await opened()
    const before = calls.length
    store.applySceneEvent({ id: 99, type: 'scene.completed', project_id: 7, payload: { scene_id: 20 }, at: '' })
    store.applySceneEvent({ id: 100, type: 'scene.completed', project_id: 7, payload: { scene_id: 55 }, at: '' })
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 10)
    expect(calls.slice(before)).toEqual(['GET /api/lora/episodes/4'])
  })
})
