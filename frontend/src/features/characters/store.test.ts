import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/errors'
import { useCharacters } from './store'

function character(id: number, over: Record<string, unknown> = {}) {
  return {
    id,
    project_id: 7,
    name: `Character ${id}`,
    slug: `character-${id}`,
    design_prompt: '',
    appearance_data: { species: '', gender: '', key_colors: [], key_features: [], common_errors: [] },
    voice: null,
    archived: false,
    lora_id: null,
    reference_count: 0,
    cover_url: null,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...over,
  }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('characters store', () => {
  let calls: { method: string; url: URL; body: unknown; credentials: RequestCredentials }[]

  beforeEach(() => {
    setActivePinia(createPinia())
    calls = []
  })
  afterEach(() => vi.unstubAllGlobals())

  function serve(handler: (method: string, url: URL, body: unknown) => Response) {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        const text = await request.text()
        const body = text ? JSON.parse(text) : undefined
        calls.push({ method: request.method, url, body, credentials: request.credentials })
        return handler(request.method, url, body)
      }),
    )
  }

  it('loads active and archived characters of a project', async () => {
    serve((_m, url) =>
      url.searchParams.get('archived') === 'true'
        ? json({ items: [character(3, { archived: true })], total: 1 })
        : json({ items: [character(1), character(2)], total: 2 }),
    )
    const store = useCharacters()
    await store.load(7)
    expect(store.items.map((c) => c.id)).toEqual([1, 2])
    expect(store.archived.map((c) => c.id)).toEqual([3])
    expect(calls.every((c) => c.url.pathname.endsWith('/api/lora/characters'))).toBe(true)
    expect(calls.every((c) => c.url.searchParams.get('project_id') === '7')).toBe(true)
    expect(calls.every((c) => c.credentials === 'same-origin')).toBe(true)
  })

  it('creates a character with a POST and adds it to the list', async () => {
    serve((method, _url, body) =>
      method === 'POST' ? json(character(9, { ...(body as object) }), 201) : json({ items: [], total: 0 }),
    )
    const store = useCharacters()
    await store.load(7)
    const created = await store.create({ project_id: 7, name: 'Ember', slug: 'ember' })
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.url.pathname).toMatch(/\/api\/lora\/characters$/)
    expect(post.body).toEqual({ project_id: 7, name: 'Ember', slug: 'ember' })
    expect(created.slug).toBe('ember')
    expect(store.bySlug('ember')?.id).toBe(9)
  })

  it('throws the server error (code and field) and leaves the list alone', async () => {
    serve((method) =>
      method === 'POST'
        ? json({ detail: 'A character called ember already exists', code: 'slug_taken', field: 'slug' }, 409)
        : json({ items: [character(1, { slug: 'ember' })], total: 1 }),
    )
    const store = useCharacters()
    await store.load(7)
    const error = await store.create({ project_id: 7, name: 'Ember', slug: 'ember' }).catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 409, code: 'slug_taken', body: { field: 'slug' } })
    expect(store.items).toHaveLength(1)
  })

  it('moves a character to the archived list when archived', async () => {
    serve((method, url) =>
      method === 'POST' && url.pathname.endsWith('/archive')
        ? json(character(1, { archived: true }))
        : url.searchParams.get('archived') === 'true'
          ? json({ items: [], total: 0 })
          : json({ items: [character(1)], total: 1 }),
    )
    const store = useCharacters()
    await store.load(7)
    await store.archive(1)
    expect(store.items).toHaveLength(0)
    expect(store.archived.map((c) => c.id)).toEqual([1])
  })
})
