import { describe, expect, it } from 'vitest'
import { formatDuration, jobTiming, percent } from './timing'

const T0 = Date.parse('2026-03-01T10:00:00Z')
const at = (seconds: number) => T0 + seconds * 1000
const job = (over: Partial<Parameters<typeof jobTiming>[0]> = {}) => ({
  status: 'running',
  progress: 0,
  started_at: '2026-03-01T10:00:00Z',
  finished_at: null,
  ...over,
})

describe('jobTiming', () => {
  it('has nothing to say before the job starts', () => {
    expect(jobTiming(job({ status: 'queued', started_at: null }), at(30))).toEqual({ elapsed: null, eta: null })
  })

  it('projects the rate so far onto the rest', () => {
    // a quarter done in 10 s: 30 s to go
    expect(jobTiming(job({ progress: 0.25 }), at(10))).toEqual({ elapsed: 10, eta: 30 })
    expect(jobTiming(job({ progress: 0.5 }), at(20)).eta).toBeCloseTo(20)
    expect(jobTiming(job({ progress: 0.9 }), at(45)).eta).toBeCloseTo(5)
  })

  it('gives no estimate while progress is too small to extrapolate from', () => {
    expect(jobTiming(job({ progress: 0 }), at(12))).toEqual({ elapsed: 12, eta: null })
    expect(jobTiming(job({ progress: 0.01 }), at(12)).eta).toBeNull()
  })

  it('is done at full progress, and clamps progress outside 0..1', () => {
    expect(jobTiming(job({ progress: 1 }), at(8)).eta).toBe(0)
    expect(jobTiming(job({ progress: 1.4 }), at(8)).eta).toBe(0)
    expect(jobTiming(job({ progress: -1 }), at(8)).eta).toBeNull()
  })

  it('measures a finished job to its end and estimates nothing', () => {
    const done = job({ status: 'succeeded', progress: 1, finished_at: '2026-03-01T10:01:05Z' })
    expect(jobTiming(done, at(600))).toEqual({ elapsed: 65, eta: null })
  })

  it('never reports negative time when the clocks disagree', () => {
    expect(jobTiming(job({ progress: 0.5 }), at(-3))).toEqual({ elapsed: 0, eta: 0 })
  })
})

describe('formatDuration', () => {
  it('reads naturally at every scale', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(7.4)).toBe('7 s')
    expect(formatDuration(65)).toBe('1 min 05 s')
    expect(formatDuration(3720)).toBe('1 h 02 min')
  })
})

describe('percent', () => {
  it('rounds and clamps', () => {
    expect(percent(0.456)).toBe('46%')
    expect(percent(2)).toBe('100%')
  })
})
