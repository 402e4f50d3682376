import { describe, expect, it } from 'vitest'
import { reduceKey, type KeyMode } from './keys'

const REASONS = { '1': 'wrong_character', '2': 'anatomy', '3': 'blur', '7': 'other' }

/** Feeds keys through the machine, collecting the actions. */
function play(keys: string[]) {
  let mode: KeyMode = 'idle'
  const actions: unknown[] = []
  for (const key of keys) {
    const r = reduceKey(mode, key, REASONS)
    mode = r.mode
    if (r.action) actions.push(r.action)
  }
  return { mode, actions }
}

describe('approve keyboard', () => {
  it('A approves, S skips, Z undoes (either case)', () => {
    expect(play(['a', 'S', 'z']).actions).toEqual([{ type: 'approve' }, { type: 'skip' }, { type: 'undo' }])
    expect(play(['A']).actions).toEqual([{ type: 'approve' }])
  })

  it('R waits for a digit, then rejects with that reason', () => {
    const r = reduceKey('idle', 'r', REASONS)
    expect(r).toEqual({ mode: 'reason', action: { type: 'pick-reason' } })
    expect(reduceKey('reason', '2', REASONS)).toEqual({ mode: 'idle', action: { type: 'reject', reason: 'anatomy' } })
    expect(play(['r', '7']).actions.at(-1)).toEqual({ type: 'reject', reason: 'other' })
  })

  it('while picking a reason other keys decide nothing; Esc or R cancels', () => {
    expect(play(['r', 'a', 's', '9'])).toEqual({ mode: 'reason', actions: [{ type: 'pick-reason' }] })
    expect(play(['r', 'Escape']).mode).toBe('idle')
    expect(play(['r', 'r']).actions.at(-1)).toEqual({ type: 'cancel' })
    // after cancelling, A approves again
    expect(play(['r', 'Escape', 'a']).actions.at(-1)).toEqual({ type: 'approve' })
  })

  it('arrows move, ? opens the shortcuts, anything else is left to the browser', () => {
    expect(play(['ArrowRight', 'ArrowLeft', 'ArrowDown', 'ArrowUp', '?']).actions).toEqual([
      { type: 'move', delta: 1 },
      { type: 'move', delta: -1 },
      { type: 'move', delta: 1 },
      { type: 'move', delta: -1 },
      { type: 'help' },
    ])
    expect(reduceKey('idle', 'x', REASONS)).toEqual({ mode: 'idle', action: null })
    expect(reduceKey('idle', '2', REASONS)).toEqual({ mode: 'idle', action: null }) // a digit alone rejects nothing
  })
})
