import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { useToasts } from '@/stores/toasts'
import type { Lora, TrainingRun } from './api'
import { FETCH_DELAY_MS, applyRunEvent, useTraining } from './store'

function trainingRun(id: number, over: Partial<TrainingRun> = {}): TrainingRun {
  return {
    id,
    character_id: 3,
    character_name: 'Aiko',
    project_id: 7,
    base_model: 'tiny-sd',
    params: { rank: 4, alpha: 4, learning_rate: 1e-4, epochs: 2, resolution: 64 },
    status: 'running',
    step: 0,
    total_steps: 20,
    epoch: 0,
    total_epochs: 2,
    loss: [],
    samples: [],
    eta_s: null,
    peak_memory_mb: null,
    output_path: null,
    lora_id: null,
    error: null,
    log_tail: [],
    started_at: '2026-03-01T10:00:00Z',
    finished_at: null,
    created_at: '2026-03-01T10:00:00Z',
    updated_at: '2026-03-01T10:00:00Z',
    ...over,
  }
}

let seq = 0
function event(type: string, payload: Record<string, unknown>, projectId = 7): StreamEvent {
  return {
    id: ++seq,
    type,
    project_id: projectId,
    payload: { project_id: projectId, character_id: 3, ...payload },
    at: '',
  }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('applyRunEvent (the reducer)', () => {
  it('appends each progress loss point in step order and moves step and epoch', () => {
    let r = trainingRun(1)
    r = applyRunEvent(r, event('training.progress', { run_id: 1, step: 1, total_steps: 20, epoch: 0, loss: 0.9 }))
    r = applyRunEvent(r, event('training.progress', { run_id: 1, step: 2, total_steps: 20, epoch: 1, loss: 0.7 }))
    expect(r.loss).toEqual([
      { step: 1, loss: 0.9 },
      { step: 2, loss: 0.7 },
    ])
    expect(r).toMatchObject({ step: 2, epoch: 1, total_steps: 20, status: 'running' })
  })

  it('ignores a repeated or late progress event (no duplicate or backwards points)', () => {
    let r = trainingRun(1, { step: 5, loss: [{ step: 5, loss: 0.5 }] })
    r = applyRunEvent(r, event('training.progress', { run_id: 1, step: 5, loss: 0.5 }))
    r = applyRunEvent(r, event('training.progress', { run_id: 1, step: 4, loss: 0.6 }))
    expect(r.loss).toHaveLength(1)
    expect(r.step).toBe(5)
  })

  it('a finished run is never moved back to running by a late progress event', () => {
    const done = trainingRun(1, { status: 'succeeded', step: 20 })
    const r = applyRunEvent(done, event('training.progress', { run_id: 1, step: 21, loss: 0.1 }))
    expect(r.status).toBe('succeeded')
    expect(r.loss).toHaveLength(0)
  })

  it('each end event sets its status; a failure keeps its error', () => {
    const r = trainingRun(1)
    expect(applyRunEvent(r, event('training.completed', { run_id: 1 })).status).toBe('succeeded')
    expect(applyRunEvent(r, event('training.cancelled', { run_id: 1 })).status).toBe('cancelled')
    expect(applyRunEvent(r, event('training.failed', { run_id: 1, error: 'CUDA out of memory' }))).toMatchObject({
      status: 'failed',
      error: 'CUDA out of memory',
    })
  })

  it('a sample event adds its image once', () => {
    let r = trainingRun(1)
    const e = event('training.sample', { run_id: 1, step: 10, url: '/training/runs/1/samples/step-10.png' })
    r = applyRunEvent(applyRunEvent(r, e), e)
    expect(r.samples).toEqual([{ step: 10, url: '/training/runs/1/samples/step-10.png' }])
  })
})

describe('training store', () => {
  let rows: Record<number, TrainingRun>
  let loras: Lora[]
  let gets: number[]
  let readinessCalls: number

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
    rows = {}
    loras = []
    gets = []
    readinessCalls = 0
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        const path = url.pathname.replace(/^.*\/api\/lora/, '')
        const one = path.match(/^\/training\/runs\/(\d+)(\/\w+)?$/)
        if (one && request.method === 'POST' && one[2] === '/use') {
          const lora: Lora = {
            id: 50,
            character_id: 3,
            run_id: Number(one[1]),
            name: 'aiko-run2.safetensors',
            path: 'output/loras/aiko-run2.safetensors',
            trigger: 'aiko',
            architecture: 'sd15',
            rank: 4,
            alpha: 4,
            active: true,
            created_at: '',
          }
          loras = [...loras.map((l) => ({ ...l, active: false })), lora]
          return json(lora)
        }
        if (one) {
          gets.push(Number(one[1]))
          const row = rows[Number(one[1])]
          return row ? json(row) : json({ detail: 'No run', code: 'run_not_found' }, 404)
        }
        if (path === '/training/runs') {
          const items = Object.values(rows).sort((a, b) => b.id - a.id)
          return json({ items, total: items.length })
        }
        if (path === '/training/readiness') {
          readinessCalls++
          return json({ character_id: 3, approved: 12, required: 10, ready: true, message: 'Ready to train' })
        }
        if (path === '/characters/3/loras') return json(loras)
        if (path === '/images/summary') return json([])
        return json({ detail: 'not here', code: 'not_found' }, 404)
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  async function opened() {
    const store = useTraining()
    await store.openProject(7)
    await store.openCharacter(3)
    return store
  }

  it('shows the newest run unless one is picked from the history', async () => {
    rows = { 1: trainingRun(1, { status: 'succeeded' }), 2: trainingRun(2, { status: 'failed' }) }
    const store = await opened()
    expect(store.list.map((r) => r.id)).toEqual([2, 1])
    expect(store.shown?.id).toBe(2)
    store.select(1)
    expect(store.shown?.id).toBe(1)
  })

  it('draws progress from the events and refetches the row at most once a second while they flow', async () => {
    rows = { 4: trainingRun(4) }
    const store = await opened()
    for (let step = 1; step <= 8; step++) {
      store.applyEvent(event('training.progress', { run_id: 4, step, total_steps: 40, epoch: 0, loss: 1 / step }))
      await vi.advanceTimersByTimeAsync(100)
    }
    expect(store.byId[4]!.loss).toHaveLength(8)
    expect(store.byId[4]!.step).toBe(8)
    expect(gets).toEqual([])
    // three seconds of events (ten a second): three fetches, not thirty
    for (let step = 9; step <= 38; step++) {
      store.applyEvent(event('training.progress', { run_id: 4, step, total_steps: 40, epoch: 0, loss: 1 / step }))
      await vi.advanceTimersByTimeAsync(100)
    }
    expect(gets.length).toBeGreaterThanOrEqual(2)
    expect(gets.length).toBeLessThanOrEqual(4)
  })

  it("fetches a run it hears about for the open character, and ignores other projects' events", async () => {
    const store = await opened()
    rows[9] = trainingRun(9, { status: 'queued' })
    store.applyEvent(event('training.queued', { run_id: 9 }))
    store.applyEvent(event('training.queued', { run_id: 10 }, 8))
    await vi.advanceTimersByTimeAsync(FETCH_DELAY_MS + 1)
    expect(gets).toEqual([9])
    expect(store.active?.id).toBe(9)
  })

  it('a finished run raises one toast (success or failure), none for a cancel', async () => {
    rows = { 1: trainingRun(1), 2: trainingRun(2), 3: trainingRun(3) }
    const store = await opened()
    const toasts = useToasts()
    store.applyEvent(event('training.completed', { run_id: 1 }))
    store.applyEvent(event('training.completed', { run_id: 1 }))
    store.applyEvent(event('training.failed', { run_id: 2, error: 'boom' }))
    store.applyEvent(event('training.cancelled', { run_id: 3 }))
    expect(toasts.toasts.map((t) => [t.tone, t.message])).toEqual([
      ['success', 'LoRA for Aiko is ready (run #1)'],
      ['error', 'Training run #2 for Aiko failed: boom'],
    ])
  })

  it('an approval of the open character refreshes its readiness', async () => {
    const store = await opened()
    const before = readinessCalls
    store.applyEvent(event('image.approved', { image_id: 5 }))
    store.applyEvent(event('image.approved', { image_id: 6 }))
    store.applyEvent(event('image.approved', { image_id: 7, character_id: 99 }))
    await vi.advanceTimersByTimeAsync(400)
    expect(readinessCalls).toBe(before + 1)
  })

  it('"use" makes that run the active LoRA and the others inactive', async () => {
    rows = { 2: trainingRun(2, { status: 'succeeded', lora_id: 50 }) }
    loras = [{ ...({} as Lora), id: 40, run_id: 1, active: true, character_id: 3, name: 'old' }]
    const store = await opened()
    expect(store.activeLora?.id).toBe(40)
    await store.use(2)
    expect(store.activeLora?.run_id).toBe(2)
    expect(store.loras.filter((l) => l.active)).toHaveLength(1)
  })
})
