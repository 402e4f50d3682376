import { describe, expect, it } from 'vitest'
import { gauge } from './gauge'

describe('gauge', () => {
  it('fills to the score and marks the gate', () => {
    const g = gauge({ quality_score: 0.72, threshold: 0.6, gate_passed: true })
    expect(g).toMatchObject({ fill: 72, mark: 60, tone: 'approved', label: '0.72 / 0.60' })
  })

  it('a score below the gate is failed', () => {
    const g = gauge({ quality_score: 0.41, threshold: 0.45, gate_passed: false })
    expect(g.tone).toBe('failed')
    expect(g.description).toContain('below the gate')
  })

  it("the server's verdict wins over the comparison", () => {
    // e.g. the best attempt kept after the last gate: the server says whether it passed
    expect(gauge({ quality_score: 0.5, threshold: 0.3, gate_passed: false }).tone).toBe('failed')
    expect(gauge({ quality_score: 0.5, threshold: 0.6, gate_passed: null }).tone).toBe('failed')
    expect(gauge({ quality_score: 0.7, threshold: 0.6, gate_passed: null }).tone).toBe('approved')
  })

  it('without a score the gauge is empty and pending, never passed', () => {
    const g = gauge({ quality_score: null, threshold: 0.6, gate_passed: null })
    expect(g).toMatchObject({ fill: 0, mark: 60, tone: 'pending', label: '— / 0.60' })
    expect(gauge({ quality_score: null, threshold: null, gate_passed: null }).mark).toBeNull()
  })

  it('clamps out-of-range scores into the bar', () => {
    expect(gauge({ quality_score: 1.4, threshold: 0.6, gate_passed: true }).fill).toBe(100)
    expect(gauge({ quality_score: -1, threshold: 0.6, gate_passed: false }).fill).toBe(0)
  })
})
