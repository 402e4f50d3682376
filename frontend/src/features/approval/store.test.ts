import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useToasts } from '@/stores/toasts'
import type { ImageRead } from './api'
import { emptyFilters, useApproval } from './store'

function image(id: number, over: Partial<ImageRead> = {}): ImageRead {
  return {
    id,
    character_id: 3,
    character_name: 'Aiko',
    character_slug: 'aiko',
    project_id: 7,
    source: 'generated',
    status: 'pending',
    width: 512,
    height: 768,
    caption: null,
    scores: null,
    model_verdict: null,
    reasons: [],
    generation_id: null,
    file_url: `/api/lora/images/${id}/file`,
    thumbnail_url: `/api/lora/images/${id}/thumbnail`,
    created_at: '2026-03-01T10:00:00Z',
    updated_at: '2026-03-01T10:00:00Z',
    last_review: null,
    ...over,
  } as ImageRead
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

const REASONS = [
  { code: 'wrong_character', label: 'Wrong character', key: '1' },
  { code: 'anatomy', label: 'Anatomy', key: '2' },
]

describe('approval store', () => {
  let rows: Record<number, ImageRead>
  /** decisions the fake server refuses, by image id */
  let refuse: Set<number>
  let posts: string[]
  let inFlight: number
  let maxInFlight: number

  beforeEach(() => {
    setActivePinia(createPinia())
    rows = Object.fromEntries([1, 2, 3, 4].map((id) => [id, image(id)]))
    refuse = new Set()
    posts = []
    inFlight = 0
    maxInFlight = 0
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        const path = url.pathname.replace(/^.*\/api\/lora/, '')
        if (path === '/images/reasons') return json(REASONS)
        if (path === '/images/summary')
          return json([{ character_id: 3, character_name: 'Aiko', pending: 4, approved: 0, rejected: 0 }])
        if (path === '/images') {
          const pending = Object.values(rows).filter((r) => r.status === 'pending')
          const offset = Number(url.searchParams.get('offset') ?? 0)
          return json({ items: pending.slice(offset), total: pending.length })
        }
        const m = path.match(/^\/images\/(\d+)\/(approve|reject|undo)$/)
        if (m && request.method === 'POST') {
          const id = Number(m[1])
          posts.push(`${m[2]} ${id}`)
          maxInFlight = Math.max(maxInFlight, ++inFlight)
          await new Promise((r) => setTimeout(r, 5))
          inFlight--
          if (refuse.has(id)) return json({ detail: 'Image is archived', code: 'conflict' }, 409)
          const status = m[2] === 'approve' ? 'approved' : m[2] === 'reject' ? 'rejected' : 'pending'
          rows[id] = { ...rows[id]!, status }
          return json(rows[id])
        }
        return json({ detail: 'not found', code: 'not_found' }, 404)
      }),
    )
  })
  afterEach(async () => {
    // decisions still being sent (one after another) finish inside their own test
    await Promise.allSettled(useApproval().history.map((d) => d.request))
    vi.unstubAllGlobals()
  })

  async function opened() {
    const store = useApproval()
    await store.open(7, emptyFilters())
    return store
  }
  const flush = () => new Promise((r) => setTimeout(r, 30))

  it('a decision shows the next pending image at once and moves the counts', async () => {
    const store = await opened()
    expect(store.current?.id).toBe(1)
    store.decide('approve')
    // before the server has answered
    expect(store.current?.id).toBe(2)
    expect(store.items[0]!.status).toBe('approved')
    expect(store.totals).toEqual({ pending: 3, approved: 1, rejected: 0 })
    store.decide('reject', 'anatomy')
    expect(store.current?.id).toBe(3)
    await Promise.all(store.history.map((d) => d.request))
    expect(posts).toEqual(['approve 1', 'reject 2'])
    expect(rows[2]!.status).toBe('rejected')
  })

  it('a refused decision rolls back: the image is pending again, shown again, and a toast says why', async () => {
    const store = await opened()
    const toasts = useToasts()
    refuse.add(1)
    store.decide('approve')
    expect(store.current?.id).toBe(2)
    await flush()
    expect(store.items[0]!.status).toBe('pending')
    expect(store.current?.id).toBe(1)
    expect(store.history).toHaveLength(0)
    expect(store.totals.pending).toBe(4)
    expect(toasts.toasts.at(-1)?.message).toMatch(/Could not approve image 1: Image is archived/)
    expect(toasts.toasts.at(-1)?.tone).toBe('error')
  })

  it('undo reverts the last decision of the session and goes back to it', async () => {
    const store = await opened()
    store.decide('approve')
    store.skip() // 2 skipped
    expect(store.current?.id).toBe(3)
    await store.undo()
    expect(store.current?.id).toBe(1)
    expect(store.items[0]!.status).toBe('pending')
    expect(posts).toEqual(['approve 1', 'undo 1'])
    expect(rows[1]!.status).toBe('pending')
    expect(store.history).toHaveLength(0)
  })

  it('a decision made right after Z reaches the server after the undo, and the undo does not overwrite it', async () => {
    const store = await opened()
    store.decide('approve')
    await Promise.all(store.history.map((d) => d.request))
    const undone = store.undo()
    expect(store.current?.id).toBe(1)
    store.decide('approve') // before the undo's answer is back
    expect(store.current?.id).toBe(2)
    await undone
    await Promise.all(store.history.map((d) => d.request))
    expect(posts).toEqual(['approve 1', 'undo 1', 'approve 1'])
    expect(rows[1]!.status).toBe('approved')
    expect(store.items[0]!.status).toBe('approved')
    expect(store.current?.id).toBe(2)
  })

  it('skip passes an image over until the rest are done', async () => {
    const store = await opened()
    store.skip()
    store.decide('approve')
    store.decide('approve')
    store.decide('approve')
    expect(store.current?.id).toBe(1) // the skipped one comes round last
  })

  it('decisions reach the server one at a time, in the order they were made', async () => {
    const store = await opened()
    store.decide('approve')
    store.decide('reject', 'anatomy')
    store.decide('approve')
    expect(store.current?.id).toBe(4) // shown at once, whatever the server is doing
    await Promise.all(store.history.map((d) => d.request))
    expect(posts).toEqual(['approve 1', 'reject 2', 'approve 3'])
    expect(maxInFlight).toBe(1)
  })

  it('the last pending decision ends the queue even when it was not at the end of the list', async () => {
    const store = await opened()
    store.skip() // 1 comes round last
    store.decide('approve')
    store.decide('approve')
    store.decide('approve')
    expect(store.current?.id).toBe(1)
    store.decide('approve')
    expect(store.current).toBeNull() // "all caught up", not the decided image after it
    expect(store.index).toBe(store.items.length)
  })

  it('a reject without a known reason decides nothing', async () => {
    const store = await opened()
    store.decide('reject', 'bogus')
    expect(store.current?.id).toBe(1)
    expect(store.history).toHaveLength(0)
  })
})
