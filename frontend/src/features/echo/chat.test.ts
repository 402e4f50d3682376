import { describe, expect, it } from 'vitest'
import { applyChatEvent, begin, errorText, finish, isForeignEcho, type ChatLine } from './chat'

const source = {
  kind: 'character' as const,
  id: 3,
  title: 'Aiko',
  snippet: 'red scarf',
  url: '/p/x/characters/aiko',
  score: 0.8,
}

describe('chat reducer', () => {
  it('builds the answer from sources, tokens and done, in order', () => {
    /** The streamed answer shows every token appended, its sources, and then the server's id. */
    let lines: ChatLine[] = begin([], 'Who is Aiko?')
    lines = applyChatEvent(lines, { event: 'sources', data: [source], id: null })
    lines = applyChatEvent(lines, { event: 'token', data: { text: 'Aiko is ' }, id: null })
    lines = applyChatEvent(lines, { event: 'token', data: { text: 'the heroine.' }, id: null })
    expect(lines[1]).toMatchObject({ role: 'assistant', content: 'Aiko is the heroine.', streaming: true })
    lines = applyChatEvent(lines, { event: 'done', data: { message_id: 42 }, id: null })
    expect(lines[0]).toMatchObject({ role: 'user', content: 'Who is Aiko?' })
    expect(lines[1]).toMatchObject({ id: 42, content: 'Aiko is the heroine.', streaming: false, sources: [source] })
  })

  it('keeps the partial answer and the error code when the stream reports an error', () => {
    /** A model error ends the answer with its message; what arrived before stays readable. */
    let lines = begin([], 'hi')
    lines = applyChatEvent(lines, { event: 'token', data: { text: 'Par' }, id: null })
    lines = applyChatEvent(lines, {
      event: 'error',
      data: { detail: 'model "llama3.1" not found', code: 'model_missing' },
      id: null,
    })
    expect(lines[1]).toMatchObject({ content: 'Par', streaming: false, error: { code: 'model_missing' } })
    expect(errorText(lines[1]!.error!)).toMatch(/pull it .* or pick another/)
  })

  it('touches only the streaming line, and ignores events after done', () => {
    /** A late token cannot corrupt a finished answer or an earlier one. */
    let lines = begin([], 'one')
    lines = applyChatEvent(lines, { event: 'done', data: { message_id: 1 }, id: null })
    const after = applyChatEvent(lines, { event: 'token', data: { text: 'late' }, id: null })
    expect(after).toBe(lines)
    lines = begin(lines, 'two')
    lines = applyChatEvent(lines, { event: 'token', data: { text: 'x' }, id: null })
    expect(lines.map((l) => l.content)).toEqual(['one', '', 'two', 'x'])
  })

  it('finish stops a line that got no done, with the given error', () => {
    /** A broken connection never leaves a line spinning forever. */
    let lines = begin([], 'q')
    lines = finish(lines, { detail: 'The stream broke off', code: 'network_error' })
    expect(lines[1]).toMatchObject({ streaming: false, error: { code: 'network_error' } })
    expect(finish(begin([], 'q'))[1]).toMatchObject({ streaming: false, error: null })
  })
})

describe('live echo events', () => {
  const stored: ChatLine[] = [
    { id: 5, role: 'user', content: 'hi', sources: [], created_at: '' },
    { id: 6, role: 'assistant', content: 'hello', sources: [], created_at: '' },
  ]

  it('fetches only what another tab or user wrote', () => {
    /** A message stored elsewhere into the open conversation, or any other conversation, is foreign. */
    expect(isForeignEcho({ currentId: 3, lines: stored, streaming: false }, 3, 7)).toBe(true)
    expect(isForeignEcho({ currentId: 3, lines: stored, streaming: false }, 4, 1)).toBe(true)
    expect(isForeignEcho({ currentId: null, lines: [], streaming: false }, 4)).toBe(true)
  })

  it('never refetches this tab’s own sends', () => {
    /** While this tab streams, or for a message it already shows or sent itself, nothing is reloaded
     * (a reload would wipe the streaming line or an answer's error). */
    const own = begin(stored, 'more')
    expect(isForeignEcho({ currentId: 3, lines: own, streaming: true }, 3, 7)).toBe(false)
    const done = finish(applyChatEvent(own, { event: 'done', data: { message_id: 8 }, id: null }))
    expect(isForeignEcho({ currentId: 3, lines: done, streaming: false }, 3, 8)).toBe(false)
    expect(isForeignEcho({ currentId: 3, lines: done, streaming: false }, 3, 7)).toBe(false) // its user line
    expect(isForeignEcho({ currentId: 3, lines: stored, streaming: false }, 3, 6)).toBe(false)
    expect(isForeignEcho({ currentId: 3, lines: stored, streaming: false }, 3)).toBe(false) // created: ours
    expect(isForeignEcho({ currentId: 3, lines: stored, streaming: false })).toBe(false)
  })
})
