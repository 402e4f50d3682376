import { describe, expect, it } from 'vitest'
import { barSegments, formatAmount } from './bar'

describe('barSegments', () => {
  it('scales to the limit while the forecast stays within it', () => {
    const s = barSegments({ limit: 100, spent: 20, committed: 10, queued: 30 })
    expect([s.spent, s.committed, s.queued, s.limitAt]).toEqual([0.2, 0.1, 0.3, 1])
    expect(s.tone).toBe('ok')
    expect(s.overBy).toBe(0)
  })

  it('scales to the forecast and warns when queued work would pass the limit', () => {
    const s = barSegments({ limit: 100, spent: 50, committed: 0, queued: 150 })
    expect(s.limitAt).toBe(0.5)
    expect(s.spent).toBe(0.25)
    expect(s.tone).toBe('warn')
    expect(s.overBy).toBe(100)
  })

  it('is over when spend plus admitted work passes the limit, and warns from the warn share', () => {
    expect(barSegments({ limit: 10, spent: 9, committed: 2, queued: 0 }).tone).toBe('over')
    expect(barSegments({ limit: 10, spent: 8, committed: 0, queued: 0 }).tone).toBe('warn')
    expect(barSegments({ limit: 10, spent: 7, committed: 0, queued: 0 }).tone).toBe('ok')
  })

  it('without a budget shows the spend alone', () => {
    const s = barSegments({ limit: null, spent: 5, committed: 5, queued: 0 })
    expect([s.spent, s.limitAt, s.tone]).toEqual([0.5, null, 'ok'])
  })
})

describe('formatAmount', () => {
  it('writes GPU time in readable units and money with cents', () => {
    expect(formatAmount('gpu_seconds', 42)).toBe('42 GPU-s')
    expect(formatAmount('gpu_seconds', 5400)).toBe('1.5 GPU-h')
    expect(formatAmount('money', 3.456)).toBe('3.46')
  })
})
