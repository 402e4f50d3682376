import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import type { SceneDetail, Shot } from './api'
import { FETCH_DELAY_MS, useScenes } from './store'

const T = '2026-03-01T10:00:00Z'

function shot(id: number, position: number, over: Partial<Shot> = {}): Shot {
  return {
    id,
    scene_id: 5,
    position,
    shot_type: 'medium',
    camera_angle: 'eye level',
    duration_s: 3,
    prompt: '',
    negative_prompt: '',
    motion_prompt: '',
    character_ids: [],
    source_output_id: null,
    dialogue_character_id: null,
    dialogue_text: '',
    transition: 'dissolve',
    transition_s: 0.3,
    status: 'pending',
    attempt: 0,
    attempts: [],
    engine: null,
    seed: null,
    steps: null,
    quality_score: null,
    threshold: null,
    gate_passed: null,
    is_animatic: false,
    error: null,
    generation_id: null,
    video_output_id: null,
    start_output_id: null,
    last_frame_output_id: null,
    hero_status: 'none',
    hero_generation_id: null,
    hero_output_id: null,
    hero_error: null,
    video_url: null,
    first_frame_url: null,
    last_frame_url: null,
    created_at: T,
    updated_at: T,
    ...over,
  }
}

function detail(shots: Shot[], over: Partial<SceneDetail> = {}): SceneDetail {
  return {
    id: 5,
    project_id: 7,
    position: 1,
    title: 'Rooftop',
    engine: null,
    steps: null,
    description: '',
    location: '',
    time_of_day: '',
    weather: '',
    mood: '',
    target_duration_s: null,
    music_mode: 'mood',
    accept_animatics: false,
    status: 'draft',
    progress: 0,
    step: '',
    error: null,
    shot_count: shots.length,
    shots_done: 0,
    has_animatics: false,
    publishable: false,
    duration_s: null,
    output_url: null,
    created_at: T,
    updated_at: T,
    shots,
    ...over,
  }
}

let seq = 0
const event = (type: string, payload: Record<string, unknown>, projectId = 7): StreamEvent => ({
  id: ++seq,
  type,
  project_id: projectId,
  payload: { project_id: projectId, scene_id: 5, ...payload },
  at: '',
})
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('scenes store', () => {
  let server: SceneDetail
  let moveAnswer: () => Response
  let calls: string[]

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
    server = detail([shot(1, 1), shot(2, 2), shot(3, 3)])
    calls = []
    moveAnswer = () => json({ detail: 'The scene is generating', code: 'scene_busy' }, 409)
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        calls.push(`${request.method} ${url.pathname}${url.search}`)
        if (url.pathname.endsWith('/scenes')) return json({ items: [server], total: 1 })
        if (url.pathname.endsWith('/scenes/5')) return json(server)
        if (url.pathname.endsWith('/move')) return moveAnswer()
        return json({ detail: 'nope', code: 'not_found' }, 404)
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  async function opened() {
    const store = useScenes()
    await store.openProject(7)
    await store.open(5)
    return store
  }

  it('a move is one position command; the list shows it at once and then the server order', async () => {
    const store = await opened()
    moveAnswer = () => json([shot(3, 1), shot(1, 2), shot(2, 3)])
    const moving = store.moveShot(3, 1)
    expect(store.shots.map((s) => [s.id, s.position])).toEqual([
      [3, 1],
      [1, 2],
      [2, 3],
    ])
    await moving
    expect(calls).toContain('POST /api/lora/scenes/5/shots/3/move?position=1')
    expect(store.shots.map((s) => s.id)).toEqual([3, 1, 2])
  })

  it('a refused move puts the shots back and says why', async () => {
    const store = await opened()
    await expect(store.moveShot(3, 1)).rejects.toThrow('The scene is generating')
    expect(store.shots.map((s) => [s.id, s.position])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ])
  })

  it("follows the open scene's shots live, then reads the scene again", async () => {
    const store = await opened()
    store.applyEvent(event('scene.progress', { status: 'generating', progress: 0.1, step: 'shot 1/3' }))
    store.applyEvent(
      event('shot.progress', { shot_id: 2, status: 'reviewing', attempt: 2, threshold: 0.45, step: 'attempt 2' }),
    )
    expect(store.detail?.status).toBe('generating')
    expect(store.byId[5]?.status).toBe('generating')
    expect(store.shots[1]).toMatchObject({ status: 'reviewing', attempt: 2, threshold: 0.45 })
    expect(store.shotSteps[2]).toBe('attempt 2')
    const before = calls.length
    server = detail([shot(1, 1, { status: 'done' }), shot(2, 2, { status: 'done' }), shot(3, 3)], { status: 'done' })
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 10)
    expect(calls.slice(before)).toEqual(['GET /api/lora/scenes/5']) // coalesced into one read
    expect(store.shots.map((s) => s.status)).toEqual(['done', 'done', 'pending'])
  })

  it("ignores other projects' events and forgets a deleted scene", async () => {
    const store = await opened()
    store.applyEvent(event('scene.progress', { status: 'generating' }, 8))
    expect(store.detail?.status).toBe('draft')
    store.applyEvent(event('scene.deleted', {}))
    expect(store.detail).toBeNull()
    expect(store.list).toEqual([])
  })

  it("keeps render progress of the open scene's shots from their generation events", async () => {
    server = detail([shot(1, 1, { status: 'generating', generation_id: 40 })])
    const store = await opened()
    store.applyGenerationEvent(event('generation.progress', { generation_id: 40, progress: 0.5, has_preview: true }))
    store.applyGenerationEvent(event('generation.progress', { generation_id: 41, progress: 0.9 }))
    expect(store.renders).toEqual({ 40: { progress: 0.5, step: '', preview: 1 } })
  })
})
