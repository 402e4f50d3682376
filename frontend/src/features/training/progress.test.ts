import { describe, expect, it } from 'vitest'
import { MIN_STEPS_FOR_ETA, finalLoss, runElapsed, runEta, runFraction, stepsPerSecond } from './progress'

const T0 = Date.parse('2026-03-01T10:00:00Z')
const run = (over: Partial<Parameters<typeof runEta>[0]> = {}) => ({
  status: 'running',
  step: 10,
  total_steps: 40,
  eta_s: null as number | null,
  started_at: '2026-03-01T10:00:00Z',
  finished_at: null as string | null,
  ...over,
})

describe('run progress', () => {
  it('is the share of steps done; a success is full, an unsized run empty', () => {
    expect(runFraction(run())).toBe(0.25)
    expect(runFraction(run({ status: 'succeeded', step: 38 }))).toBe(1)
    expect(runFraction(run({ total_steps: null }))).toBe(0)
    expect(runFraction(run({ step: 50 }))).toBe(1)
  })

  it('ETA: the steps left at the rate so far', () => {
    // 10 steps in 20 s, 30 left: 60 s
    expect(runEta(run(), T0 + 20_000)).toBeCloseTo(60)
    expect(stepsPerSecond(run(), T0 + 20_000)).toBeCloseTo(0.5)
  })

  it("ETA: before a few steps the trainer's own estimate is used (model loading skews the rate)", () => {
    expect(runEta(run({ step: MIN_STEPS_FOR_ETA - 1, eta_s: 95 }), T0 + 60_000)).toBe(95)
    expect(runEta(run({ step: 0, eta_s: null }), T0 + 60_000)).toBeNull()
  })

  it('ETA: none unless running, and zero at the last step', () => {
    expect(runEta(run({ status: 'queued', started_at: null, eta_s: 10 }))).toBeNull()
    expect(runEta(run({ status: 'succeeded', finished_at: '2026-03-01T10:01:00Z' }))).toBeNull()
    expect(runEta(run({ step: 40 }), T0 + 5000)).toBe(0)
  })

  it('elapsed runs to the end of a finished run', () => {
    expect(runElapsed(run({ finished_at: '2026-03-01T10:02:30Z' }), T0 + 999_999)).toBe(150)
    expect(runElapsed(run({ started_at: null }))).toBeNull()
  })

  it('final loss is the last finite one', () => {
    expect(
      finalLoss([
        { step: 1, loss: 0.5 },
        { step: 2, loss: 0.4 },
        { step: 3, loss: Number.NaN },
      ]),
    ).toBe(0.4)
    expect(finalLoss([])).toBeNull()
  })
})
