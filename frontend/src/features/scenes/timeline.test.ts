import { describe, expect, it } from 'vitest'
import { formatSeconds, overlapOf, timeline } from './timeline'

const shot = (duration_s: number, transition = 'dissolve', transition_s = 0.3) => ({
  duration_s,
  transition,
  transition_s,
})

describe('timeline', () => {
  it('lasts the sum of the shots minus the overlaps of the joins', () => {
    const t = timeline([shot(3), shot(3), shot(4)])
    expect(t.sum).toBe(10)
    expect(t.overlaps).toEqual([0, 0.3, 0.3])
    expect(t.duration).toBeCloseTo(9.4)
    expect(t.starts[0]).toBe(0)
    expect(t.starts[1]).toBeCloseTo(2.7)
    expect(t.starts[2]).toBeCloseTo(5.4)
  })

  it("ignores the first shot's transition (nothing comes before it)", () => {
    expect(timeline([shot(3, 'fade', 2)]).duration).toBe(3)
  })

  it('a cut overlaps nothing, whatever its duration says', () => {
    expect(timeline([shot(3), shot(3, 'cut', 1)]).duration).toBe(6)
  })

  it('caps a transition at 40% of the shorter of the two shots', () => {
    expect(overlapOf(shot(5), shot(1, 'dissolve', 2))).toBeCloseTo(0.4)
    expect(overlapOf(shot(1.5), shot(5, 'wipe', 2))).toBeCloseTo(0.6)
    expect(timeline([shot(5), shot(1, 'dissolve', 2)]).duration).toBeCloseTo(5.6)
  })

  it('is empty without shots', () => {
    expect(timeline([])).toEqual({ starts: [], overlaps: [], sum: 0, duration: 0 })
  })
})

describe('formatSeconds', () => {
  it('shows seconds, and minutes past one', () => {
    expect(formatSeconds(9.44)).toBe('9.4 s')
    expect(formatSeconds(65)).toBe('1:05.0')
    expect(formatSeconds(null)).toBe('—')
  })
})
