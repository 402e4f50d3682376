import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EVENT_TYPES, useEventRouter, type StreamEvent } from '@/composables/useLiveUpdates'
import { useLearning } from './learning'
import { useReplenishment } from './replenish'

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })
const event = (type: string, payload: Record<string, unknown> = {}): StreamEvent => ({
  id: 1,
  type,
  project_id: 7,
  payload,
  at: '2026-03-01T10:00:00Z',
})

describe('live updates for replenishment and learning', () => {
  let paths: string[]

  beforeEach(() => {
    setActivePinia(createPinia())
    paths = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const path = new URL(request.url).pathname.replace(/^.*\/api\/lora/, '')
        paths.push(path)
        if (path === '/replenishment/status') return json({ settings: {}, active_batches: 0, characters: [] })
        if (path === '/corrections/settings') return json({ enabled: false })
        return json({ character_id: 3, decisions: 0, parameters: [], reasons: [], suggested: [], corrections: [] })
      }),
    )
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  async function settle(route: (e: StreamEvent) => void, e: StreamEvent) {
    paths = []
    vi.useFakeTimers()
    route(e)
    await vi.advanceTimersByTimeAsync(300)
    vi.useRealTimers()
    return paths
  }

  it('the stream subscribes to the new event names (an EventSource needs each by name)', () => {
    expect(EVENT_TYPES).toEqual(expect.arrayContaining(['replenishment.batch', 'regeneration.queued', 'quality.drift']))
  })

  it('a batch or a finished generation refreshes the open Approve tab; progress ticks do not', async () => {
    await useReplenishment().open(7)
    const route = useEventRouter()
    expect(await settle(route, event('replenishment.batch', { character_id: 3 }))).toContain('/replenishment/status')
    expect(await settle(route, event('generation.completed', { generation_id: 9 }))).toContain('/replenishment/status')
    expect(await settle(route, event('generation.progress', { generation_id: 9 }))).not.toContain(
      '/replenishment/status',
    )
  })

  it('decisions refresh replenishment only while its panel is on screen, and never once the tab closed', async () => {
    const store = useReplenishment()
    await store.open(7)
    const route = useEventRouter()
    expect(await settle(route, event('image.approved', { image_id: 5 }))).not.toContain('/replenishment/status')
    store.panelOpen = true
    expect(await settle(route, event('image.approved', { image_id: 5 }))).toContain('/replenishment/status')
    store.close()
    expect(await settle(route, event('replenishment.batch'))).not.toContain('/replenishment/status')
  })

  it("the Learning panel reloads on its character's decisions and drift, not on another's", async () => {
    await useLearning().open(3)
    const route = useEventRouter()
    expect(await settle(route, event('quality.drift', { character_id: 3 }))).toContain('/characters/3/learning')
    expect(await settle(route, event('image.rejected', { character_id: 4, image_id: 8 }))).not.toContain(
      '/characters/3/learning',
    )
  })
})
