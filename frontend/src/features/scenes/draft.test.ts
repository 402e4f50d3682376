import { describe, expect, it } from 'vitest'
import { mergeServer } from './draft'

describe('mergeServer', () => {
  const server = { prompt: '', duration_s: 3, character_ids: [1], updated_at: 't1' }

  it('keeps what the user is typing when the server copy changes elsewhere', () => {
    const draft = { ...server, prompt: 'Aiko on the roof' } // typed, not sent yet
    const next = { ...server, character_ids: [1, 2], updated_at: 't2' } // another field was saved
    expect(mergeServer(draft, next, server)).toEqual({ ...next, prompt: 'Aiko on the roof' })
  })

  it('takes over every field the server changed', () => {
    const draft = { ...server, duration_s: 40 } // refused by the server
    const next = { ...server, duration_s: 2, updated_at: 't2' } // changed by someone else
    expect(mergeServer(draft, next, server)).toEqual(next)
  })

  it('starts from the server copy when there was none before', () => {
    expect(mergeServer({ ...server, prompt: 'x' }, server, undefined)).toEqual(server)
  })
})
