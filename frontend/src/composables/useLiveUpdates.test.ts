import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useApproval } from '@/features/approval/store'
import { useCharacters } from '@/features/characters/store'
import { echoApi } from '@/features/echo/api'
import { useEcho } from '@/features/echo/store'
import { EVENT_TYPES, streamUrl, useEventRouter, type StreamEvent } from './useLiveUpdates'

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

describe('the event router', () => {
  let seq = 0
  const ev = (type: string, payload: Record<string, unknown>): StreamEvent => ({
    id: ++seq,
    type,
    project_id: 7,
    payload: { project_id: 7, ...payload },
    at: '',
  })

  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  it('listens to the echo and ingestion events a store uses, and not to the team view’s own stream', () => {
    /** An event type missing from EVENT_TYPES never reaches the page; team.* must stay out (the team
     * view applies its session's own stream, so the global one would apply each turn twice). */
    for (const type of ['echo.conversation_created', 'echo.message_added', 'ingestion.completed', 'pilot.changed'])
      expect(EVENT_TYPES).toContain(type)
    expect(EVENT_TYPES.filter((t) => t.startsWith('team.'))).toEqual([])
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length)
  })

  it('reloads the open conversation for a message written elsewhere, once, and never for its own send', async () => {
    /** Another tab's message shows up in the open conversation (list and transcript, coalesced);
     * this tab's own answer, already on screen with its stored id, causes no fetch. */
    const conversation = vi.spyOn(echoApi, 'conversation').mockResolvedValue({ messages: [] } as never)
    const conversations = vi.spyOn(echoApi, 'conversations').mockResolvedValue([] as never)
    const echo = useEcho()
    echo.open = true
    echo.project = 'harbor'
    echo.currentId = 3
    echo.lines = [{ id: 6, role: 'assistant', content: 'hello', sources: [], created_at: '' }]
    const route = useEventRouter()
    route(ev('echo.message_added', { conversation_id: 3, message_id: 6, role: 'assistant' }))
    await vi.advanceTimersByTimeAsync(500)
    expect(conversation).not.toHaveBeenCalled()
    expect(conversations).not.toHaveBeenCalled()
    route(ev('echo.message_added', { conversation_id: 3, message_id: 9, role: 'user' }))
    route(ev('echo.message_added', { conversation_id: 3, message_id: 10, role: 'assistant' }))
    await vi.advanceTimersByTimeAsync(500)
    expect(conversation).toHaveBeenCalledTimes(1)
    expect(conversations).toHaveBeenCalledTimes(1)
    echo.open = false
    route(ev('echo.conversation_created', { conversation_id: 4 }))
    await vi.advanceTimersByTimeAsync(500)
    expect(conversations).toHaveBeenCalledTimes(1) // a closed panel fetches nothing
  })

  it('refreshes the character and the approval counts when an ingestion adds images', async () => {
    /** ingestion.completed adds pending images: the character's counts and the review queue's
     * summary follow; the summary only while the Approve tab has a project loaded. */
    const characters = useCharacters()
    const approval = useApproval()
    const refresh = vi.spyOn(characters, 'refresh').mockResolvedValue()
    const summary = vi.spyOn(approval, 'refreshSummary').mockResolvedValue()
    const route = useEventRouter()
    route(ev('ingestion.completed', { character_id: 5, ingestion_id: 1, images_added: 12 }))
    await vi.advanceTimersByTimeAsync(500)
    expect(refresh).toHaveBeenCalledWith(5)
    expect(summary).not.toHaveBeenCalled()
    approval.projectId = 7
    route(ev('ingestion.completed', { character_id: 5, ingestion_id: 2, images_added: 3 }))
    await vi.advanceTimersByTimeAsync(500)
    expect(summary).toHaveBeenCalledTimes(1)
    expect(refresh).toHaveBeenCalledTimes(2)
  })
})
