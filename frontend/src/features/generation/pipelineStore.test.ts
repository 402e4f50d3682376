import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { sceneApi } from '@/features/scenes/api'
import { episodeApi } from '@/features/episodes/api'
import { ROW_DELAY_MS, usePipelineJobs } from './pipelineStore'

let seq = 0
const ev = (type: string, payload: Record<string, unknown>, projectId = 7): StreamEvent => ({
  id: ++seq,
  type,
  project_id: projectId,
  payload: { project_id: projectId, ...payload },
  at: '',
})

const sceneRow = (id: number, status: string, title = `S${id}`) =>
  ({ id, project_id: 7, title, status, progress: 0, step: '', error: null }) as never

beforeEach(() => {
  setActivePinia(createPinia())
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('usePipelineJobs', () => {
  it('loads running scenes, counts them, and follows their events to the end', async () => {
    vi.spyOn(sceneApi, 'list').mockResolvedValue({
      items: [sceneRow(1, 'generating'), sceneRow(2, 'draft')],
      total: 2,
    } as never)
    vi.spyOn(episodeApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    const store = usePipelineJobs()
    await store.load(7, 'demo')
    expect(store.activeCount).toBe(1) // a draft scene is no job
    store.applyEvent(ev('scene.completed', { scene_id: 1, output_url: 'x' }))
    expect(store.activeCount).toBe(0)
    expect(store.recent.map((j) => j.key)).toEqual(['scene:1'])
  })

  it('reads the row of a job first seen in an event (its title), once per burst', async () => {
    vi.spyOn(sceneApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    vi.spyOn(episodeApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    const get = vi.spyOn(sceneApi, 'get').mockResolvedValue(sceneRow(4, 'generating', 'Rooftop'))
    const store = usePipelineJobs()
    await store.load(7, 'demo')
    store.applyEvent(ev('scene.progress', { scene_id: 4, status: 'generating', progress: 0.5, step: 'shot 2 of 4' }))
    store.applyEvent(ev('scene.progress', { scene_id: 4, status: 'generating', progress: 0.6, step: 'shot 2 of 4' }))
    expect(store.active[0]).toMatchObject({ title: 'Scene #4', progress: 0.6 })
    await vi.advanceTimersByTimeAsync(ROW_DELAY_MS + 10)
    expect(get).toHaveBeenCalledTimes(1)
    expect(store.active[0]).toMatchObject({ title: 'Scene: Rooftop', progress: 0.6, step: 'shot 2 of 4' })
  })

  it("ignores another project's events and forgets deleted jobs", async () => {
    vi.spyOn(sceneApi, 'list').mockResolvedValue({ items: [sceneRow(1, 'queued')], total: 1 } as never)
    vi.spyOn(episodeApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    const store = usePipelineJobs()
    await store.load(7, 'demo')
    store.applyEvent(ev('scene.progress', { scene_id: 8, status: 'generating', progress: 0.1, step: '' }, 99))
    expect(store.list.map((j) => j.key)).toEqual(['scene:1'])
    store.applyEvent(ev('scene.deleted', { scene_id: 1 }))
    expect(store.list).toEqual([])
  })
})
