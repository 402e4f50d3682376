import { ref, shallowRef } from 'vue'

export interface KeysetPage<T> {
  items: T[]
  /** pass back as `before` for the next page; null at the end */
  next_cursor: string | null
}

export type FetchPage<T, F> = (filters: F, before: string | null) => Promise<KeysetPage<T>>

/**
 * Keyset ("before this cursor") pagination, newest first: `loadMore` appends the next page until
 * the server answers a null cursor; `reset` starts over with new filters and drops any answer to
 * a request made under the old ones. Items are kept in a shallowRef: with very many of them,
 * deep reactivity would cost more than the grid that shows them.
 */
export function useKeysetPager<T extends { id: number }, F>(fetchPage: FetchPage<T, F>, initial: F) {
  const items = shallowRef<T[]>([])
  const cursor = ref<string | null>(null)
  const done = ref(false)
  const loading = ref(false)
  const loadedOnce = ref(false)
  const error = ref('')
  let filters = initial
  let epoch = 0
  let ids = new Set<number>()

  async function loadMore(): Promise<void> {
    if (loading.value || done.value) return
    const mine = epoch
    loading.value = true
    try {
      const page = await fetchPage(filters, cursor.value)
      if (mine !== epoch) return
      const fresh = page.items.filter((item) => !ids.has(item.id))
      for (const item of fresh) ids.add(item.id)
      items.value = items.value.concat(fresh)
      cursor.value = page.next_cursor
      done.value = page.next_cursor === null
      error.value = ''
      loadedOnce.value = true
    } catch (e) {
      if (mine === epoch) error.value = e instanceof Error ? e.message : String(e)
    } finally {
      if (mine === epoch) loading.value = false
    }
  }

  /** New filters: forget everything and load their first page. */
  function reset(next: F): Promise<void> {
    filters = next
    epoch++
    ids = new Set()
    items.value = []
    cursor.value = null
    done.value = false
    loading.value = false
    loadedOnce.value = false
    error.value = ''
    return loadMore()
  }

  /** Something new was made: fetch the first page and put what is not shown yet on top. */
  async function refreshHead(): Promise<number> {
    const mine = epoch
    const page = await fetchPage(filters, null)
    if (mine !== epoch) return 0
    const fresh = page.items.filter((item) => !ids.has(item.id))
    if (!fresh.length) return 0
    for (const item of fresh) ids.add(item.id)
    items.value = fresh.concat(items.value)
    if (!loadedOnce.value) {
      cursor.value = page.next_cursor
      done.value = page.next_cursor === null
      loadedOnce.value = true
    }
    return fresh.length
  }

  /** Replaces or drops one item in place (e.g. after it changed). */
  function patch(id: number, next: T | null) {
    if (!ids.has(id)) return
    if (next === null) {
      ids.delete(id)
      items.value = items.value.filter((item) => item.id !== id)
    } else items.value = items.value.map((item) => (item.id === id ? next : item))
  }

  return {
    items,
    cursor,
    done,
    loading,
    loadedOnce,
    error,
    loadMore,
    reset,
    refreshHead,
    patch,
    filters: () => filters,
  }
}
