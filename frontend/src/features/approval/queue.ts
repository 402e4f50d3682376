/** Pure helpers for the review queue: where the cursor goes next and what to prefetch. */

export interface QueueItem {
  id: number
  status: string
  file_url: string
}

/** Index of the next image still pending after `from` (wrapping to the start: skipped images come
 * round again); -1 when nothing is pending. `skipped` images are passed over on the first lap. */
export function nextPending(items: QueueItem[], from: number, skipped: ReadonlySet<number> = new Set()): number {
  const n = items.length
  let fallback = -1
  for (let step = 1; step <= n; step++) {
    const i = (from + step + n) % n
    const item = items[i]!
    if (item.status !== 'pending') continue
    if (!skipped.has(item.id)) return i
    if (fallback < 0) fallback = i
  }
  return fallback
}

/** The next `size` pending images after the cursor, in the order they will show: these are
 * decoded ahead so the next one paints at once. */
export function prefetchWindow<T extends QueueItem>(items: T[], index: number, size = 3): T[] {
  const out: T[] = []
  for (let i = index + 1; i < items.length && out.length < size; i++) {
    if (items[i]!.status === 'pending') out.push(items[i]!)
  }
  return out
}

/** Keeps decoded pictures for a few URLs (`new Image()` + decode()), dropping the oldest. */
export function createPrefetcher(limit = 8, make: () => HTMLImageElement = () => new Image()) {
  const cache = new Map<string, HTMLImageElement>()
  function prefetch(urls: string[]) {
    for (const url of urls) {
      if (cache.has(url)) continue
      const img = make()
      img.decoding = 'async'
      img.src = url
      img.decode?.().catch(() => undefined)
      cache.set(url, img)
    }
    while (cache.size > limit) cache.delete(cache.keys().next().value!)
  }
  return {
    prefetch,
    has: (url: string) => cache.has(url),
    get size() {
      return cache.size
    },
  }
}
