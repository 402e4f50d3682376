import { describe, expect, it } from 'vitest'
import { createPrefetcher, nextPending, prefetchWindow, type QueueItem } from './queue'

const item = (id: number, status = 'pending'): QueueItem => ({ id, status, file_url: `/images/${id}/file` })

describe('review queue', () => {
  it('the next pending image skips decided ones and wraps round to skipped ones last', () => {
    const items = [item(1, 'approved'), item(2), item(3, 'rejected'), item(4), item(5)]
    expect(nextPending(items, 1)).toBe(3)
    expect(nextPending(items, 4)).toBe(1) // wraps
    expect(nextPending(items, 1, new Set([4]))).toBe(4) // 4 was skipped: 5 first
    expect(nextPending(items, 4, new Set([2, 4, 5]))).toBe(1) // only skipped ones left: the first of them
    expect(nextPending([item(1, 'approved')], 0)).toBe(-1)
  })

  it('the prefetch window is the next three pending images after the cursor', () => {
    const items = [item(1), item(2, 'approved'), item(3), item(4), item(5, 'rejected'), item(6), item(7)]
    expect(prefetchWindow(items, 0).map((i) => i.id)).toEqual([3, 4, 6])
    expect(prefetchWindow(items, 3, 2).map((i) => i.id)).toEqual([6, 7])
    expect(prefetchWindow(items, 6)).toEqual([])
  })

  it('the prefetcher decodes each URL once and keeps only the last few', () => {
    const made: { src: string; decoded: boolean }[] = []
    const fake = () => {
      const img = { src: '', decoding: '', decoded: false, decode: () => ((img.decoded = true), Promise.resolve()) }
      made.push(img)
      return img as unknown as HTMLImageElement
    }
    const p = createPrefetcher(3, fake)
    p.prefetch(['a', 'b'])
    p.prefetch(['b', 'c', 'd'])
    expect(made.map((m) => m.src)).toEqual(['a', 'b', 'c', 'd'])
    expect(made.every((m) => m.decoded)).toBe(true)
    expect(p.size).toBe(3)
    expect(p.has('a')).toBe(false)
    expect(p.has('d')).toBe(true)
  })
})
