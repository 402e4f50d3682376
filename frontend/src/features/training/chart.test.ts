import { describe, expect, it } from 'vitest'
import { decimate, ema, formatLoss, lossDomain, nearestIndex, niceTicks, polyline, scale } from './chart'

const pts = (...losses: number[]) => losses.map((loss, i) => ({ step: i + 1, loss }))

describe('ema (loss smoothing)', () => {
  it('weight 0 is the raw series', () => {
    expect(ema(pts(3, 1, 2), 0).map((p) => p.loss)).toEqual([3, 1, 2])
  })

  it('is debiased: the first smoothed point equals the first loss, not a fraction of it', () => {
    expect(ema(pts(2.5, 2.5, 2.5), 0.9).map((p) => p.loss)).toEqual([2.5, 2.5, 2.5].map((v) => expect.closeTo(v, 12)))
  })

  it('follows the textbook recurrence, divided by 1 - w^n', () => {
    const out = ema(pts(1, 0), 0.5)
    // raw EMA: 0.5, then 0.25; debias 0.5 and 0.75
    expect(out[0]!.loss).toBeCloseTo(1)
    expect(out[1]!.loss).toBeCloseTo(0.25 / 0.75)
  })

  it('damps noise: a zig-zag smooths into a narrower band around its mean', () => {
    const zig = pts(...Array.from({ length: 40 }, (_, i) => (i % 2 ? 1 : 3)))
    const tail = ema(zig, 0.9)
      .slice(-10)
      .map((p) => p.loss)
    expect(Math.max(...tail) - Math.min(...tail)).toBeLessThan(0.5)
    expect(tail.every((v) => v > 1.5 && v < 2.5)).toBe(true)
  })

  it('skips non-finite losses instead of poisoning the rest', () => {
    const out = ema(
      [
        { step: 1, loss: 1 },
        { step: 2, loss: Number.NaN },
        { step: 3, loss: 1 },
      ],
      0.6,
    )
    expect(out.map((p) => p.step)).toEqual([1, 3])
    expect(out.every((p) => Number.isFinite(p.loss))).toBe(true)
  })
})

describe('axes', () => {
  it('niceTicks gives round values inside the range', () => {
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100])
    expect(niceTicks(0.0123, 0.0871, 4)).toEqual([0.02, 0.04, 0.06, 0.08])
    expect(niceTicks(0, 30, 6)).toEqual([0, 5, 10, 15, 20, 25, 30])
  })

  it('niceTicks for steps never goes below one step apart (a two-step run shows 0, 1, 2)', () => {
    expect(niceTicks(0, 2, 5, 1)).toEqual([0, 1, 2])
    expect(niceTicks(0, 2, 5)).toEqual([0, 0.5, 1, 1.5, 2])
  })

  it('niceTicks of an empty span is the one value', () => {
    expect(niceTicks(2, 2)).toEqual([2])
  })

  it('lossDomain pads the range, never below zero for losses, and widens a flat series', () => {
    const [lo, hi] = lossDomain(pts(0.01, 0.5))
    expect(lo).toBe(0)
    expect(hi).toBeGreaterThan(0.5)
    const [flo, fhi] = lossDomain(pts(0.2, 0.2))
    expect(flo).toBeLessThan(0.2)
    expect(fhi).toBeGreaterThan(0.2)
    expect(lossDomain([])).toEqual([0, 1])
  })

  it('scale maps the domain onto the range (inverted for y)', () => {
    const y = scale(0, 1, 200, 0)
    expect(y(0)).toBe(200)
    expect(y(1)).toBe(0)
    expect(y(0.25)).toBe(150)
  })

  it('formatLoss keeps four significant digits', () => {
    expect(formatLoss(0.123456)).toBe('0.1235')
    expect(formatLoss(0.00001234)).toBe('1.23e-5')
    expect(formatLoss(Number.NaN)).toBe('—')
  })
})

describe('drawing', () => {
  it('decimate keeps the ends and at most max points', () => {
    const many = Array.from({ length: 1000 }, (_, i) => i)
    const few = decimate(many, 50)
    expect(few).toHaveLength(50)
    expect(few[0]).toBe(0)
    expect(few[49]).toBe(999)
    expect(decimate([1, 2, 3], 50)).toEqual([1, 2, 3])
  })

  it('nearestIndex finds the point under the pointer', () => {
    const p = [
      { step: 1, loss: 0 },
      { step: 5, loss: 0 },
      { step: 10, loss: 0 },
    ]
    expect(nearestIndex(p, 0)).toBe(0)
    expect(nearestIndex(p, 2.9)).toBe(0)
    expect(nearestIndex(p, 3.1)).toBe(1)
    expect(nearestIndex(p, 8)).toBe(2)
    expect(nearestIndex(p, 99)).toBe(2)
    expect(nearestIndex([], 3)).toBe(-1)
  })

  it('polyline leaves out non-finite points', () => {
    const line = polyline(
      [
        { step: 0, loss: 1 },
        { step: 1, loss: Number.NaN },
        { step: 2, loss: 0 },
      ],
      (v) => v * 10,
      (v) => v * 100,
    )
    expect(line).toBe('0.0,100.0 20.0,0.0')
  })
})
