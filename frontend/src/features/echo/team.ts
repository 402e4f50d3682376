/** The creative team's session as a pure reducer over its live stream (`message`, `token`,
 * `phase`, `consensus`, `question`, `plan`, `state`), plus who the specialists are. The view only
 * renders this state; the rules (typing lines, de-duplication on reconnect, the user's pending
 * interjections) are tested here. */
import type { Phase, PlanParams, Speaker, TeamMessage, TeamSessionDetail, TeamStatus } from './api'
import type { StreamMessage } from './sse'

export const PHASES: readonly Phase[] = ['ideation', 'refinement', 'synthesis', 'review']

export interface SpecialistInfo {
  name: string
  role: string
  colour: string
}

/** The five specialists (contract colours), the user and the engine's own notes. */
export const SPECIALISTS: Record<Speaker, SpecialistInfo> = {
  luna: { name: 'Luna', role: 'Style: palette, lighting, mood', colour: '#c084fc' },
  frame: { name: 'Frame', role: 'Composition: camera, lens, placement', colour: '#38bdf8' },
  saga: { name: 'Saga', role: 'Story: intent, emotion', colour: '#f59e0b' },
  pixel: { name: 'Pixel', role: 'Technical director: the parameters', colour: '#34d399' },
  lens: { name: 'Lens', role: 'Critic: risks, consistency', colour: '#f87171' },
  user: { name: 'You', role: 'Director', colour: 'var(--accent)' },
  system: { name: 'Studio', role: 'Session notes', colour: 'var(--muted)' },
}
export const TEAM: readonly Speaker[] = ['luna', 'frame', 'saga', 'pixel', 'lens']

export interface TeamLine extends TeamMessage {
  /** tokens are still arriving */
  typing?: boolean
  /** the user's interjection, sent but not yet in the transcript */
  pending?: boolean
}

export interface Question {
  summary: string
  options: string[]
}

export interface TeamState {
  status: TeamStatus
  phase: Phase
  round: number
  consensus: boolean | null
  question: Question | null
  plan: PlanParams | null
  error: string | null
  lines: TeamLine[]
}

export function initialState(detail: TeamSessionDetail): TeamState {
  return {
    status: detail.status,
    phase: detail.phase,
    round: detail.round,
    consensus: null,
    question: detail.status === 'waiting_user' ? (detail.question ?? null) : null,
    plan: detail.plan_params,
    error: detail.error,
    lines: [...detail.messages],
  }
}

/** A reload (after a reconnect) takes the server's transcript and keeps the interjections the
 * server has not recorded yet, and anything typing that the transcript does not have. */
export function reload(state: TeamState, detail: TeamSessionDetail): TeamState {
  const next = initialState(detail)
  const ids = new Set(detail.messages.map((m) => m.id))
  const kept = state.lines.filter(
    (l) => (l.typing && !ids.has(l.id)) || (l.pending && !detail.messages.some((m) => sameUserLine(m, l))),
  )
  return { ...next, consensus: state.consensus, lines: [...next.lines, ...kept] }
}

const sameUserLine = (a: TeamMessage, b: TeamLine) => a.speaker === 'user' && a.content.trim() === b.content.trim()
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isPhase = (v: unknown): v is Phase => typeof v === 'string' && (PHASES as readonly string[]).includes(v)

let localId = 0

/** The user's interjection, shown at once (marked pending) until the stream echoes it. */
export function interject(state: TeamState, content: string, now = new Date().toISOString()): TeamState {
  const line: TeamLine = {
    id: --localId,
    speaker: 'user',
    phase: state.phase,
    round: state.round,
    content,
    structured: null,
    created_at: now,
    pending: true,
  }
  return { ...state, lines: [...state.lines, line] }
}

/** Drops a pending interjection the server refused. */
export function dropPending(state: TeamState, id: number): TeamState {
  return { ...state, lines: state.lines.filter((l) => l.id !== id) }
}

export function applyTeamEvent(state: TeamState, message: StreamMessage): TeamState {
  const data = message.data
  switch (message.event) {
    case 'message': {
      if (!isRecord(data) || typeof data.id !== 'number') return state
      const incoming = data as unknown as TeamMessage
      let lines = state.lines
      if (incoming.speaker === 'user') {
        const pending = lines.findIndex((l) => l.pending && sameUserLine(incoming, l))
        if (pending !== -1) lines = lines.filter((_, i) => i !== pending)
      }
      const at = lines.findIndex((l) => l.id === incoming.id)
      lines = at === -1 ? [...lines, { ...incoming }] : lines.map((l, i) => (i === at ? { ...incoming } : l))
      // pending interjections stay last: they are what the team answers next
      lines = [...lines.filter((l) => !l.pending), ...lines.filter((l) => l.pending)]
      return { ...state, lines }
    }
    case 'token': {
      if (!isRecord(data) || typeof data.message_id !== 'number' || typeof data.text !== 'string') return state
      const at = state.lines.findIndex((l) => l.id === data.message_id)
      if (at !== -1) {
        const line = state.lines[at]!
        if (!line.typing) return state // the whole message is already in
        const lines = state.lines.map((l, i) => (i === at ? { ...l, content: l.content + data.text } : l))
        return { ...state, lines }
      }
      const speaker = (typeof data.speaker === 'string' ? data.speaker : 'system') as Speaker
      const line: TeamLine = {
        id: data.message_id,
        speaker,
        phase: state.phase,
        round: state.round,
        content: data.text,
        structured: null,
        created_at: new Date().toISOString(),
        typing: true,
      }
      const lines = [...state.lines.filter((l) => !l.pending), line, ...state.lines.filter((l) => l.pending)]
      return { ...state, lines }
    }
    case 'phase':
      if (!isRecord(data) || !isPhase(data.phase)) return state
      return { ...state, phase: data.phase, round: typeof data.round === 'number' ? data.round : state.round }
    case 'consensus':
      return isRecord(data) && typeof data.reached === 'boolean' ? { ...state, consensus: data.reached } : state
    case 'question': {
      if (!isRecord(data)) return state
      const options = Array.isArray(data.options) ? data.options.map(String) : []
      const summary = typeof data.summary === 'string' ? data.summary : ''
      return { ...state, question: { summary, options }, status: 'waiting_user' }
    }
    case 'plan':
      return isRecord(data) && isRecord(data.params) ? { ...state, plan: { ...data.params } } : state
    case 'state': {
      if (!isRecord(data) || typeof data.status !== 'string') return state
      const status = data.status as TeamStatus
      const error = 'error' in data ? (typeof data.error === 'string' ? data.error : null) : state.error
      return {
        ...state,
        status,
        error,
        question: status === 'waiting_user' ? state.question : null,
        round: typeof data.round === 'number' ? data.round : state.round,
      }
    }
    default:
      return state
  }
}

/** Whether the session still talks (the stream is worth keeping open). */
export const isLive = (status: TeamStatus) => status === 'running' || status === 'waiting_user'

/** Which step of the four the indicator marks: done, current or ahead. */
export function phaseSteps(phase: Phase): { phase: Phase; state: 'done' | 'current' | 'ahead' }[] {
  const at = PHASES.indexOf(phase)
  return PHASES.map((p, i) => ({ phase: p, state: i < at ? 'done' : i === at ? 'current' : 'ahead' }))
}
