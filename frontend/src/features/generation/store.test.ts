import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { useToasts } from '@/stores/toasts'
import type { Generation } from './api'
import { FETCH_DELAY_MS, TOAST_WINDOW_MS, useGenerations } from './store'

function gen(id: number, over: Partial<Generation> = {}): Generation {
  return {
    id,
    project_id: 7,
    character_id: 3,
    character_name: 'Ember',
    kind: 'image',
    engine: 'txt2img',
    params: { seed: id },
    status: 'queued',
    progress: 0,
    step: '',
    attempts: 0,
    error: null,
    error_code: null,
    backend_id: null,
    backend_name: null,
    comfy_prompt_id: null,
    outputs: [],
    gpu_seconds: null,
    started_at: null,
    finished_at: null,
    created_at: '2026-03-01T10:00:00Z',
    updated_at: '2026-03-01T10:00:00Z',
    ...over,
  }
}

let seq = 0
function event(type: string, payload: Record<string, unknown>, projectId = 7): StreamEvent {
  return { id: ++seq, type, project_id: projectId, payload: { project_id: projectId, ...payload }, at: '' }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('generations store', () => {
  /** the server's rows, by id */
  let rows: Record<number, Generation>
  let gets: number[]

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
    rows = {}
    gets = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        const one = url.pathname.match(/\/generations\/(\d+)$/)
        if (one) {
          gets.push(Number(one[1]))
          const row = rows[Number(one[1])]
          return row ? json(row) : json({ detail: 'No generation', code: 'generation_not_found' }, 404)
        }
        const status = url.searchParams.get('status')
        const items = Object.values(rows)
          .filter((g) => !status || g.status === status)
          .sort((a, b) => b.id - a.id)
        return json({ items, total: items.length })
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  async function loaded() {
    const store = useGenerations()
    await store.load(7)
    return store
  }

  it('lists running first, then queued in run order, then finished newest first', async () => {
    rows = {
      1: gen(1, { status: 'succeeded' }),
      2: gen(2, { status: 'failed' }),
      3: gen(3, { status: 'queued' }),
      4: gen(4, { status: 'running' }),
      5: gen(5, { status: 'queued' }),
    }
    const store = await loaded()
    expect(store.list.map((g) => g.id)).toEqual([4, 3, 5, 2, 1])
    expect(store.activeCount).toBe(3)
  })

  it('adds a job it hears about and counts it as active', async () => {
    const store = await loaded()
    rows[9] = gen(9)
    store.applyEvent(event('generation.queued', { generation_id: 9, status: 'queued', progress: 0 }))
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 1)
    expect(store.byId[9]?.status).toBe('queued')
    expect(store.activeCount).toBe(1)
  })

  it('bumps a preview version for each progress event that brings a new frame', async () => {
    const store = await loaded()
    store.applyEvent(event('generation.progress', { generation_id: 4, status: 'running', has_preview: true }))
    store.applyEvent(event('generation.progress', { generation_id: 4, status: 'running', has_preview: false }))
    store.applyEvent(event('generation.progress', { generation_id: 4, status: 'running', has_preview: true }))
    store.applyEvent(event('generation.progress', { generation_id: 5, status: 'running', has_preview: true }, 8))
    expect(store.previews).toEqual({ 4: 2 })
  })

  it('follows progress from the events alone, without refetching every tick', async () => {
    rows[9] = gen(9, { status: 'running', started_at: '2026-03-01T10:00:01Z', backend_name: 'gpu-1' })
    const store = await loaded()
    for (const [value, step] of [
      [0.25, 'txt2img: step 7/28'],
      [0.5, 'txt2img: step 14/28'],
    ] as const) {
      store.applyEvent(event('generation.progress', { generation_id: 9, status: 'running', progress: value, step }))
    }
    expect(store.byId[9]).toMatchObject({ progress: 0.5, step: 'txt2img: step 14/28', backend_name: 'gpu-1' })
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 1)
    expect(gets).toEqual([])
  })

  it('marks a job done with its outputs and raises one toast for a batch', async () => {
    rows = { 1: gen(1, { status: 'running' }), 2: gen(2, { status: 'running' }), 3: gen(3, { status: 'running' }) }
    const store = await loaded()
    for (const id of [1, 2, 3]) {
      rows[id] = gen(id, { status: 'succeeded', progress: 1, outputs: [id * 10] })
      store.applyEvent(
        event('generation.completed', { generation_id: id, status: 'succeeded', progress: 1, output_ids: [id * 10] }),
      )
    }
    expect(store.byId[2]).toMatchObject({ status: 'succeeded', outputs: [20] })
    expect(store.activeCount).toBe(0)
    const toasts = useToasts()
    expect(toasts.toasts).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(TOAST_WINDOW_MS + 1)
    expect(toasts.toasts.map((t) => t.message)).toEqual(['3 images ready'])
    // its action opens the job drawer
    toasts.toasts[0]!.action!.run()
    expect(store.drawerOpen).toBe(true)
  })

  it('says why a job failed, in the toast and on the job', async () => {
    rows[4] = gen(4, { status: 'running' })
    const store = await loaded()
    const error = "Checkpoint 'animagine.safetensors' is not on gpu-1 (it has: sdxl_base.safetensors)"
    store.applyEvent(event('generation.failed', { generation_id: 4, status: 'failed', error }))
    expect(store.byId[4]).toMatchObject({ status: 'failed', error })
    await vi.advanceTimersByTimeAsync(TOAST_WINDOW_MS + 1)
    const toast = useToasts().toasts[0]!
    expect(toast).toMatchObject({ tone: 'error', message: `Generation #4 failed: ${error}` })
  })

  it('does not toast a cancellation, nor the same job twice', async () => {
    rows = { 1: gen(1, { status: 'running' }), 2: gen(2, { status: 'running' }) }
    const store = await loaded()
    rows[1] = gen(1, { status: 'cancelled' })
    store.applyEvent(event('generation.cancelled', { generation_id: 1, status: 'cancelled' }))
    store.applyEvent(event('generation.completed', { generation_id: 2, status: 'succeeded', output_ids: [5] }))
    store.applyEvent(event('generation.completed', { generation_id: 2, status: 'succeeded', output_ids: [5] }))
    await vi.advanceTimersByTimeAsync(TOAST_WINDOW_MS + 1)
    expect(useToasts().toasts.map((t) => t.message)).toEqual(['1 image ready'])
    expect(store.byId[1]?.status).toBe('cancelled')
  })

  it('clears the error of a retried job when it is queued again', async () => {
    rows[4] = gen(4, { status: 'failed', error: 'out of memory', error_code: 'oom' })
    const store = await loaded()
    store.applyEvent(
      event('generation.queued', { generation_id: 4, status: 'queued', progress: 0, step: 'queued again' }),
    )
    expect(store.byId[4]).toMatchObject({ status: 'queued', error: null, step: 'queued again' })
    expect(store.activeCount).toBe(1)
  })

  it('shows the cause of an automatic retry and keeps the job active', async () => {
    rows[4] = gen(4, { status: 'running', started_at: '2026-03-01T10:00:01Z', attempts: 1 })
    const store = await loaded()
    const error = 'CUDA out of memory. Tried to allocate 2.00 GiB'
    rows[4] = gen(4, { status: 'queued', started_at: '2026-03-01T10:00:01Z', attempts: 1, error })
    store.applyEvent(
      event('generation.retrying', {
        generation_id: 4,
        status: 'queued',
        progress: 0,
        step: 'retrying in 2 s after oom',
        error,
      }),
    )
    expect(store.byId[4]).toMatchObject({ status: 'queued', step: 'retrying in 2 s after oom', error })
    expect(store.activeCount).toBe(1)
    await vi.advanceTimersByTimeAsync(TOAST_WINDOW_MS + 1)
    expect(gets).toEqual([4])
    expect(store.byId[4]?.error).toBe(error)
    expect(useToasts().toasts).toHaveLength(0)
  })

  it('ignores events of another project', async () => {
    const store = await loaded()
    store.applyEvent(event('generation.queued', { generation_id: 50, status: 'queued' }, 8))
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 1)
    expect(gets).toEqual([])
    expect(store.list).toHaveLength(0)
  })
})
