import { describe, expect, it } from 'vitest'
import { countdown, describeState, progressOf } from './replenishState'

const row = (over: Partial<Parameters<typeof describeState>[0]> = {}) => ({
  state: 'idle',
  stopped_reason: null,
  cooldown_until: null,
  approved: 3,
  target: 10,
  ...over,
})

describe('replenishment state', () => {
  it('counts a cooldown down to the second from cooldown_until', () => {
    const now = Date.parse('2026-03-01T10:00:00Z')
    const v = describeState(row({ state: 'cooldown', cooldown_until: '2026-03-01T10:01:23Z' }), now)
    expect(v.label).toBe('cooldown 1:23')
    expect(v.tone).toBe('pending')
    expect(describeState(row({ state: 'cooldown', cooldown_until: '2026-03-01T09:59:00Z' }), now).label).toBe(
      'cooldown',
    )
  })

  it('names why a character stopped and offers Resume only then', () => {
    const v = describeState(row({ state: 'stopped', stopped_reason: 'consecutive_rejects' }))
    expect(v.label).toBe('stopped: consecutive rejects')
    expect(v.tone).toBe('rejected')
    expect(v.resumable).toBe(true)
    for (const state of ['disabled', 'done', 'running', 'waiting', 'idle']) {
      expect(describeState(row({ state })).resumable).toBe(false)
    }
  })

  it('uses the shared status colours', () => {
    expect(describeState(row({ state: 'done' })).tone).toBe('approved')
    expect(describeState(row({ state: 'running' })).tone).toBe('running')
    expect(describeState(row({ state: 'disabled' })).tone).toBe('animatic')
  })

  it('fills the progress bar approved/target, capped, and full for a zero target', () => {
    expect(progressOf({ approved: 3, target: 12 })).toBe(0.25)
    expect(progressOf({ approved: 30, target: 12 })).toBe(1)
    expect(progressOf({ approved: 0, target: 0 })).toBe(1)
    expect(countdown(59.2)).toBe('1:00')
    expect(countdown(-3)).toBe('0:00')
  })
})
