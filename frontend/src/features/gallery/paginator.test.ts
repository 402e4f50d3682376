import { describe, expect, it, vi } from 'vitest'
import { useKeysetPager, type KeysetPage } from './paginator'

interface Item {
  id: number
}
interface Filters {
  kind: string | null
}

/** A server of `n` items, newest (highest id) first; the cursor is the last id shown. */
function server(n: number, pageSize: number) {
  const all = Array.from({ length: n }, (_, i) => ({ id: n - i }))
  const calls: { filters: Filters; before: string | null }[] = []
  const fetch = vi.fn(async (filters: Filters, before: string | null): Promise<KeysetPage<Item>> => {
    calls.push({ filters: { ...filters }, before })
    const start = before === null ? 0 : all.findIndex((x) => x.id === Number(before)) + 1
    const items = all.slice(start, start + pageSize)
    const last = items[items.length - 1]
    return { items, next_cursor: items.length === pageSize && last ? String(last.id) : null }
  })
  return { all, calls, fetch }
}

describe('useKeysetPager', () => {
  it('appends pages in order, passing the previous cursor as `before`', async () => {
    const s = server(7, 3)
    const pager = useKeysetPager<Item, Filters>(s.fetch, { kind: null })
    await pager.loadMore()
    expect(pager.items.value.map((i) => i.id)).toEqual([7, 6, 5])
    await pager.loadMore()
    expect(pager.items.value.map((i) => i.id)).toEqual([7, 6, 5, 4, 3, 2])
    expect(s.calls.map((c) => c.before)).toEqual([null, '5'])
    expect(pager.done.value).toBe(false)
  })

  it('stops at a null cursor and asks no more', async () => {
    const s = server(4, 3)
    const pager = useKeysetPager<Item, Filters>(s.fetch, { kind: null })
    await pager.loadMore()
    await pager.loadMore()
    expect(pager.items.value.map((i) => i.id)).toEqual([4, 3, 2, 1])
    expect(pager.done.value).toBe(true)
    await pager.loadMore()
    await pager.loadMore()
    expect(s.fetch).toHaveBeenCalledTimes(2)
  })

  it('does not ask twice while a page is in flight', async () => {
    const s = server(10, 3)
    const pager = useKeysetPager<Item, Filters>(s.fetch, { kind: null })
    await Promise.all([pager.loadMore(), pager.loadMore(), pager.loadMore()])
    expect(s.fetch).toHaveBeenCalledTimes(1)
  })

  it('resets on a filter change and starts from the first page with the new filters', async () => {
    const s = server(9, 3)
    const pager = useKeysetPager<Item, Filters>(s.fetch, { kind: null })
    await pager.loadMore()
    await pager.loadMore()
    await pager.reset({ kind: 'video' })
    expect(s.calls.at(-1)).toEqual({ filters: { kind: 'video' }, before: null })
    expect(pager.items.value.map((i) => i.id)).toEqual([9, 8, 7])
    expect(pager.done.value).toBe(false)
  })

  it('drops a page answered for the old filters after a reset', async () => {
    let release: (page: KeysetPage<Item>) => void = () => undefined
    const fetch = vi.fn(
      (filters: Filters) =>
        new Promise<KeysetPage<Item>>((resolve) => {
          if (filters.kind === 'old') release = resolve
          else resolve({ items: [{ id: 100 }], next_cursor: null })
        }),
    )
    const pager = useKeysetPager(fetch, { kind: 'old' })
    const stale = pager.loadMore()
    await pager.reset({ kind: 'new' })
    release({ items: [{ id: 1 }, { id: 2 }], next_cursor: 'x' })
    await stale
    expect(pager.items.value.map((i) => i.id)).toEqual([100])
    expect(pager.done.value).toBe(true)
  })

  it('keeps an error, then recovers on the next try', async () => {
    const fetch = vi
      .fn<(f: Filters, b: string | null) => Promise<KeysetPage<Item>>>()
      .mockRejectedValueOnce(new Error('offline'))
      .mockResolvedValueOnce({ items: [{ id: 1 }], next_cursor: null })
    const pager = useKeysetPager(fetch, { kind: null })
    await pager.loadMore()
    expect(pager.error.value).toBe('offline')
    expect(pager.done.value).toBe(false)
    await pager.loadMore()
    expect(pager.error.value).toBe('')
    expect(pager.items.value).toHaveLength(1)
  })

  it('puts new items on top without duplicating the ones shown', async () => {
    const s = server(5, 3)
    const pager = useKeysetPager<Item, Filters>(s.fetch, { kind: null })
    await pager.loadMore()
    s.all.unshift({ id: 7 }, { id: 6 })
    expect(await pager.refreshHead()).toBe(2)
    expect(pager.items.value.map((i) => i.id)).toEqual([7, 6, 5, 4, 3])
    await pager.loadMore() // the cursor still continues after the last item of the old page
    expect(pager.items.value.map((i) => i.id)).toEqual([7, 6, 5, 4, 3, 2, 1])
  })
})
