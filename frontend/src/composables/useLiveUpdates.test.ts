import { describe, expect, it } from 'vitest'
import { streamUrl } from './useLiveUpdates'

describe('streamUrl', () => {
  const base = 'http://h/anime-studio/api/lora'
  it('scopes the stream to the open project', () => {
    expect(streamUrl(4, null, base)).toBe('http://h/anime-studio/api/lora/events/stream?project_id=4')
  })
  it('resumes after the last seen event when reopened', () => {
    expect(streamUrl(4, 120, base)).toBe('http://h/anime-studio/api/lora/events/stream?project_id=4&after=120')
    expect(streamUrl(null, null, base)).toBe('http://h/anime-studio/api/lora/events/stream')
  })
})
