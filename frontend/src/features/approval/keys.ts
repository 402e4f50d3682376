/** The Approve tab's keyboard as a small state machine (UI.md): A approve, R then 1-7 reject with
 * that reason, S skip, Z undo, arrows move, ? shortcuts. Pure, so it is tested on its own. */

export type KeyMode = 'idle' | 'reason'

export type KeyAction =
  | { type: 'approve' }
  | { type: 'reject'; reason: string }
  | { type: 'skip' }
  | { type: 'undo' }
  | { type: 'move'; delta: number }
  | { type: 'help' }
  | { type: 'pick-reason' }
  | { type: 'cancel' }

export interface KeyResult {
  mode: KeyMode
  /** null: the key means nothing here (let the browser have it) */
  action: KeyAction | null
}

/** @param reasonKeys key ('1'..'7') -> reason code, from GET /images/reasons */
export function reduceKey(mode: KeyMode, key: string, reasonKeys: Record<string, string>): KeyResult {
  if (mode === 'reason') {
    const reason = reasonKeys[key]
    if (reason) return { mode: 'idle', action: { type: 'reject', reason } }
    if (key === 'Escape' || key.toLowerCase() === 'r') return { mode: 'idle', action: { type: 'cancel' } }
    // any other key is swallowed while the reason chips are up, so a stray key decides nothing
    return { mode: 'reason', action: null }
  }
  switch (key) {
    case 'a':
    case 'A':
      return { mode: 'idle', action: { type: 'approve' } }
    case 'r':
    case 'R':
      return { mode: 'reason', action: { type: 'pick-reason' } }
    case 's':
    case 'S':
      return { mode: 'idle', action: { type: 'skip' } }
    case 'z':
    case 'Z':
      return { mode: 'idle', action: { type: 'undo' } }
    case 'ArrowRight':
    case 'ArrowDown':
      return { mode: 'idle', action: { type: 'move', delta: 1 } }
    case 'ArrowLeft':
    case 'ArrowUp':
      return { mode: 'idle', action: { type: 'move', delta: -1 } }
    case '?':
      return { mode: 'idle', action: { type: 'help' } }
    default:
      return { mode: 'idle', action: null }
  }
}

export const SHORTCUTS: { keys: string; what: string }[] = [
  { keys: 'A', what: 'Approve' },
  { keys: 'R then 1-7', what: 'Reject with a reason' },
  { keys: 'S', what: 'Skip (decide later)' },
  { keys: 'Z', what: 'Undo the last decision' },
  { keys: '← →', what: 'Previous / next image' },
  { keys: 'B', what: 'Bulk grid / single image' },
  { keys: '?', what: 'Show these shortcuts' },
  { keys: 'Esc', what: 'Close, cancel the reason' },
]
