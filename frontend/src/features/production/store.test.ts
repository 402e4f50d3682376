import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import type { BudgetStatus } from './api'
import { useProduction } from './store'

const status = (spent: number): BudgetStatus => ({
  budget: { id: 1, project_id: 7, episode_id: null, unit: 'gpu_seconds', limit: 100, warn_at: 0.8 },
  unit: 'gpu_seconds',
  spent,
  committed: 0,
  queued: 0,
  forecast: spent,
  remaining: 100 - spent,
  gpu_seconds: spent,
  cost: 0,
})
const event = (type: string): StreamEvent => ({ id: 1, type, project_id: 7, payload: {}, at: '' })
const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })

describe('production store', () => {
  let spent: number
  let calls: string[]

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
    spent = 10
    calls = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        calls.push(new URL(request.url).pathname)
        return json(status(spent))
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('reads a watched scope again once after a burst of spend events, and ignores others', async () => {
    const store = useProduction()
    await store.watch('project', 7)
    expect(store.status('project', 7)?.spent).toBe(10)
    spent = 30
    store.applyEvent(event('generation.progress')) // progress moves no spend
    store.applyEvent(event('generation.completed'))
    store.applyEvent(event('budget.exceeded'))
    await vi.advanceTimersByTimeAsync(500)
    expect(calls.filter((c) => c.endsWith('/projects/7/budget'))).toHaveLength(2)
    expect(store.status('project', 7)?.spent).toBe(30)
  })

  it('stops following a scope nobody shows', async () => {
    const store = useProduction()
    await store.watch('episode', 4)
    store.unwatch('episode', 4)
    store.applyEvent(event('generation.completed'))
    await vi.advanceTimersByTimeAsync(500)
    expect(calls).toEqual(['/api/lora/episodes/4/budget'])
  })
})
