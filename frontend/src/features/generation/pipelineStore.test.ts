import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { sceneApi } from '@/features/scenes/api'
import { episodeApi } from '@/features/episodes/api'
import { useCharacters } from '@/features/characters/store'
import { jobApi } from './api'
import { RECENT_BACKGROUND, ROW_DELAY_MS, usePipelineJobs } from './pipelineStore'

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
  vi.spyOn(jobApi, 'running').mockResolvedValue([]) // no background job runs unless a test says so
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

const jobEv = (
  type: string,
  id: number,
  task: string,
  args: Record<string, unknown>,
  extra = {},
  project: number | null = 7,
) => ev(type, { job_id: id, task, queue: 'q', attempt: 1, args, ...extra }, project as number)

async function opened() {
  vi.spyOn(sceneApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
  vi.spyOn(episodeApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
  const store = usePipelineJobs()
  await store.load(7, 'demo')
  return store
}

describe('usePipelineJobs: background jobs', () => {
  it('counts a running background job, and no longer once it succeeded', async () => {
    /** The badge counts running background jobs, never finished ones. */
    const store = await opened()
    store.applyEvent(jobEv('job.started', 1, 'review:metrics', { character_id: 3 }))
    expect(store.activeCount).toBe(1)
    expect(store.background.map((j) => j.status)).toEqual(['running'])
    store.applyEvent(jobEv('job.succeeded', 1, 'review:metrics', { character_id: 3 }, { duration_s: 1 }))
    expect(store.activeCount).toBe(0)
    expect(store.background.map((j) => j.status)).toEqual(['done'])
    expect(store.recent).toEqual([]) // finished scenes/episodes/runs only
  })

  it('shows the background jobs already running when the project opens, then follows their events', async () => {
    /** A page opened (or reloaded) after a job started still shows it: GET /jobs/running. */
    vi.spyOn(sceneApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    vi.spyOn(episodeApi, 'list').mockResolvedValue({ items: [], total: 0 } as never)
    const running = vi.spyOn(jobApi, 'running').mockResolvedValue([
      { job_id: 5, task: 'review:metrics', queue: 'review', attempt: 2, args: { character_id: 3 } },
      { job_id: 6, task: 'scene:run', queue: 'scene', attempt: 1, args: { scene_id: 2 } }, // followed as a scene
    ])
    const store = usePipelineJobs()
    await store.load(7, 'demo')
    expect(running).toHaveBeenCalledWith(7)
    expect(store.background.map((j) => [j.title, j.status, j.step])).toEqual([
      ['Metrics review · character #3', 'running', 'attempt 2'],
    ])
    expect(store.activeCount).toBe(1)
    store.applyEvent(jobEv('job.succeeded', 5, 'review:metrics', { character_id: 3 }, { duration_s: 2 }))
    expect(store.activeCount).toBe(0)
  })

  it('lists a running memory sync without counting it in the badge', async () => {
    /** Upkeep the studio runs by itself is shown, but the badge counts the work a user waits on. */
    const store = await opened()
    store.applyEvent(jobEv('job.started', 2, 'echo:sync_memory', { project_id: 7, rebuild: false }))
    expect(store.background.map((j) => [j.title, j.status])).toEqual([['Memory sync', 'running']])
    expect(store.activeCount).toBe(0)
  })

  it('keeps a retried job running, and a failed one until dismissed or a later success', async () => {
    /** will_retry keeps it running; a failure stays until dismissed or replaced by a success. */
    const store = await opened()
    const args = { character_id: 3 }
    store.applyEvent(jobEv('job.failed', 1, 'vision:review', args, { error: 'down', will_retry: true }))
    expect(store.activeCount).toBe(1)
    store.applyEvent(jobEv('job.failed', 1, 'vision:review', args, { error: 'down', will_retry: false }))
    expect(store.activeCount).toBe(0)
    expect(store.background).toMatchObject([{ status: 'failed', error: 'down' }])
    store.applyEvent(jobEv('job.started', 2, 'vision:review', args))
    store.applyEvent(jobEv('job.succeeded', 2, 'vision:review', args, { duration_s: 1 }))
    expect(store.background).toMatchObject([{ id: 2, status: 'done', error: null }])
    store.applyEvent(jobEv('job.failed', 3, 'vision:review', { character_id: 4 }, { error: 'x', will_retry: false }))
    const key = store.background.find((j) => j.status === 'failed')!.key
    store.dismiss(key)
    expect(store.background.map((j) => j.status)).toEqual(['done'])
  })

  it('ignores the jobs followed through domain events and other projects; shows housekeeping failures', async () => {
    /** scene:run etc. never show twice; a job of no project (periodic) is shown, another project's is not. */
    const store = await opened()
    store.applyEvent(jobEv('job.started', 1, 'scene:run', { scene_id: 2 }))
    store.applyEvent(jobEv('job.started', 2, 'review:metrics', { character_id: 3 }, {}, 99))
    expect(store.list).toEqual([])
    store.applyEvent(
      jobEv('job.failed', 3, 'training:sweep', { timestamp: 5 }, { error: 'db', will_retry: false }, null),
    )
    expect(store.background).toMatchObject([{ title: 'Training sweep', status: 'failed', error: 'db' }])
  })

  it(`keeps at most ${RECENT_BACKGROUND} succeeded background jobs, and every failed one`, async () => {
    /** Finished background jobs are trimmed to the newest few; failures are never trimmed away. */
    const store = await opened()
    store.applyEvent(jobEv('job.failed', 1, 'ingestion:run', { ingestion_id: 1 }, { error: 'x', will_retry: false }))
    for (let i = 2; i < 10; i++) store.applyEvent(jobEv('job.succeeded', i, 'replenish:check', { character_id: i }))
    const done = store.background.filter((j) => j.status === 'done')
    expect(done.map((j) => j.id)).toEqual([9, 8, 7, 6, 5])
    expect(store.background.filter((j) => j.status === 'failed').map((j) => j.id)).toEqual([1])
  })

  it("titles a job with the character's name once the characters store has it", async () => {
    /** "Vision review · Mio" rather than "#3" when the character is known, and links by its slug. */
    const store = await opened()
    store.applyEvent(jobEv('job.started', 1, 'vision:review', { character_id: 3 }))
    expect(store.background[0]!.title).toBe('Vision review · character #3')
    const characters = useCharacters()
    characters.adopt(7)
    characters.items = [{ id: 3, project_id: 7, name: 'Mio', slug: 'mio', archived: false } as never]
    expect(store.background[0]).toMatchObject({ title: 'Vision review · Mio', characterSlug: 'mio' })
  })
})
