import { describe, expect, it } from 'vitest'
import type { TeamMessage, TeamSessionDetail } from './api'
import { applyTeamEvent, initialState, interject, phaseSteps, reload, type TeamState } from './team'

const T = '2026-03-01T10:00:00Z'
const msg = (id: number, speaker: TeamMessage['speaker'], content: string): TeamMessage => ({
  id,
  speaker,
  phase: 'ideation',
  round: 1,
  content,
  structured: null,
  created_at: T,
})
const detail = (messages: TeamMessage[] = [], over: Partial<TeamSessionDetail> = {}): TeamSessionDetail => ({
  id: 1,
  project_id: 2,
  target: { kind: 'shot', shot_id: 9 },
  brief: '',
  max_rounds: 3,
  models: {},
  question: null,
  result: null,
  plan_schema: {},
  status: 'running',
  phase: 'ideation',
  round: 1,
  plan_params: null,
  error: null,
  created_at: T,
  updated_at: T,
  messages,
  ...over,
})
const ev = (event: string, data: unknown) => ({ event, data, id: null })

describe('team reducer', () => {
  it('types a specialist line token by token, then takes the whole message', () => {
    /** The view shows a specialist typing, and the final text replaces the typed one (no doubles). */
    let s: TeamState = initialState(detail())
    s = applyTeamEvent(s, ev('token', { message_id: 5, speaker: 'luna', text: 'Warm ' }))
    s = applyTeamEvent(s, ev('token', { message_id: 5, speaker: 'luna', text: 'dusk light' }))
    expect(s.lines).toEqual([
      expect.objectContaining({ id: 5, speaker: 'luna', content: 'Warm dusk light', typing: true }),
    ])
    s = applyTeamEvent(s, ev('message', msg(5, 'luna', 'Warm dusk light.')))
    expect(s.lines).toHaveLength(1)
    expect(s.lines[0]).toMatchObject({ content: 'Warm dusk light.' })
    expect(s.lines[0]!.typing).toBeFalsy()
    // a late token for a finished line changes nothing
    expect(applyTeamEvent(s, ev('token', { message_id: 5, speaker: 'luna', text: 'x' }))).toBe(s)
  })

  it('shows an interjection at once and swaps it for the server copy', () => {
    /** The user's line appears when sent, stays last until the team takes it, and is never doubled. */
    let s = initialState(detail([msg(1, 'luna', 'Palette: teal.')]))
    s = interject(s, 'Make it rain')
    expect(s.lines.at(-1)).toMatchObject({ speaker: 'user', content: 'Make it rain', pending: true })
    s = applyTeamEvent(s, ev('token', { message_id: 2, speaker: 'frame', text: 'Low angle' }))
    expect(s.lines.map((l) => l.speaker)).toEqual(['luna', 'frame', 'user'])
    s = applyTeamEvent(s, ev('message', msg(3, 'user', 'Make it rain')))
    expect(s.lines.filter((l) => l.speaker === 'user')).toEqual([expect.objectContaining({ id: 3 })])
    expect(s.lines.some((l) => l.pending)).toBe(false)
  })

  it('follows phase, consensus, question, plan and state', () => {
    /** Each stream event moves the indicator, the question card and the plan form. */
    let s = initialState(detail())
    s = applyTeamEvent(s, ev('phase', { phase: 'synthesis', round: 2 }))
    s = applyTeamEvent(s, ev('consensus', { reached: false }))
    s = applyTeamEvent(s, ev('question', { summary: 'Rain or dusk?', options: ['Rain', 'Dusk'] }))
    expect(s).toMatchObject({ phase: 'synthesis', round: 2, consensus: false, status: 'waiting_user' })
    expect(s.question).toEqual({ summary: 'Rain or dusk?', options: ['Rain', 'Dusk'] })
    s = applyTeamEvent(s, ev('state', { status: 'running', error: null }))
    expect(s.question).toBeNull()
    expect(applyTeamEvent(s, ev('state', { status: 'failed', error: 'Pixel gave no valid plan' }))).toMatchObject({
      status: 'failed',
      error: 'Pixel gave no valid plan',
    })
    s = applyTeamEvent(s, ev('plan', { params: { steps: 28, prompt: 'rain' } }))
    expect(s.plan).toEqual({ steps: 28, prompt: 'rain' })
    // nonsense is ignored
    expect(applyTeamEvent(s, ev('phase', { phase: 'lunch' }))).toBe(s)
    expect(applyTeamEvent(s, ev('plan', 'x'))).toBe(s)
  })

  it('a reload keeps pending interjections and drops what the server now has', () => {
    /** After a reconnect nothing the user typed is lost, and nothing is shown twice. */
    let s = interject(initialState(detail()), 'Closer')
    s = applyTeamEvent(s, ev('token', { message_id: 7, speaker: 'saga', text: 'She hesitates' }))
    const again = reload(s, detail([msg(7, 'saga', 'She hesitates.')]))
    expect(again.lines.map((l) => [l.speaker, l.content])).toEqual([
      ['saga', 'She hesitates.'],
      ['user', 'Closer'],
    ])
    const recorded = reload(s, detail([msg(7, 'saga', 'She hesitates.'), msg(8, 'user', 'Closer')]))
    expect(recorded.lines.filter((l) => l.pending)).toEqual([])
  })

  it('a session read back while waiting shows its question', () => {
    /** Opening a session that waits for the user shows the question card at once. */
    const question = { summary: 'Rain or dusk?', options: ['Rain', 'Dusk'] }
    expect(initialState(detail([], { status: 'waiting_user', question })).question).toEqual(question)
    expect(initialState(detail([], { status: 'running', question })).question).toBeNull()
  })

  it('marks the phases before the current one as done', () => {
    /** The indicator reads ideation → refinement → synthesis → review. */
    expect(phaseSteps('synthesis').map((p) => p.state)).toEqual(['done', 'done', 'current', 'ahead'])
  })
})
