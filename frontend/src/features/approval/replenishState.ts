/** How a character's replenishment state reads in the panel (pure, tested on its own). */

export interface StateRow {
  state: string
  stopped_reason: string | null
  cooldown_until: string | null
  approved: number
  target: number
}

export interface StateView {
  /** a status colour (UI.md): approved green, running blue, pending amber, rejected red, grey */
  tone: 'approved' | 'running' | 'pending' | 'rejected' | 'animatic'
  label: string
  /** the longer sentence for the chip's title and screen readers */
  detail: string
  /** the "Resume" button replaces "Run now" */
  resumable: boolean
}

/** 83 -> "1:23" */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

const reasonText = (reason: string | null) => (reason ? reason.replace(/_/g, ' ') : 'stopped')

export function describeState(row: StateRow, now = Date.now()): StateView {
  switch (row.state) {
    case 'disabled':
      return {
        tone: 'animatic',
        label: 'off',
        detail: 'Replenishment is switched off for the studio',
        resumable: false,
      }
    case 'done':
      return { tone: 'approved', label: 'done', detail: `${row.approved} of ${row.target} approved`, resumable: false }
    case 'running':
      return {
        tone: 'running',
        label: 'running',
        detail: 'A batch is generating or waiting for review',
        resumable: false,
      }
    case 'cooldown': {
      const left = row.cooldown_until ? (new Date(row.cooldown_until).getTime() - now) / 1000 : 0
      return {
        tone: 'pending',
        label: left > 0 ? `cooldown ${countdown(left)}` : 'cooldown',
        detail: 'The next batch waits for the cooldown since the last one',
        resumable: false,
      }
    }
    case 'waiting':
      return {
        tone: 'pending',
        label: 'waiting for review',
        detail: 'Enough images are pending review: approve or reject them and the next batch follows',
        resumable: false,
      }
    case 'stopped':
      return {
        tone: 'rejected',
        label: `stopped: ${reasonText(row.stopped_reason)}`,
        detail: `Stopped (${reasonText(row.stopped_reason)}). Resume checks again; changing the target also resumes.`,
        resumable: true,
      }
    case 'idle':
      return { tone: 'animatic', label: 'idle', detail: 'Nothing to do until the next check', resumable: false }
    default:
      return { tone: 'animatic', label: row.state, detail: row.state, resumable: false }
  }
}

/** approved / target as 0..1 for the progress bar (a target of 0 is full). */
export const progressOf = (row: { approved: number; target: number }) =>
  row.target <= 0 ? 1 : Math.min(1, row.approved / row.target)
