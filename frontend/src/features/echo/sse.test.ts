import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/errors'
import { createSseParser, streamSse, type SseMessage, type StreamMessage } from './sse'

function parse(chunks: string[]): SseMessage[] {
  const out: SseMessage[] = []
  const parser = createSseParser((m) => out.push(m))
  for (const c of chunks) parser.push(c)
  parser.end()
  return out
}

describe('createSseParser', () => {
  it('dispatches one event per blank line with its name, data and id', () => {
    /** Each event reaches the handler with the name the server gave it. */
    expect(parse(['event: token\ndata: {"text":"Hi"}\nid: 3\n\n', 'event: done\ndata: {}\n\n'])).toEqual([
      { event: 'token', data: '{"text":"Hi"}', id: '3' },
      { event: 'done', data: '{}', id: '3' },
    ])
  })

  it('joins data lines and defaults the event name to message', () => {
    /** Multi-line data keeps its line breaks; an unnamed event is a `message`. */
    expect(parse(['data: one\ndata: two\n\n'])).toEqual([{ event: 'message', data: 'one\ntwo', id: null }])
  })

  it('reassembles events split anywhere, CRLF halves included', () => {
    /** A chunk boundary mid-line or between "\r" and "\n" neither loses nor doubles a line. */
    const whole = 'event: token\r\ndata: {"text":"a b"}\r\n\r\nevent: token\r\ndata: {"text":"c"}\r\n\r\n'
    const expected = parse([whole])
    expect(expected).toHaveLength(2)
    for (let cut = 1; cut < whole.length; cut++) {
      expect(parse([whole.slice(0, cut), whole.slice(cut)])).toEqual(expected)
    }
    expect(parse(whole.split(''))).toEqual(expected)
  })

  it('ignores comments (pings) and events without data', () => {
    /** sse-starlette's `: ping` keep-alives never reach the UI as events. */
    expect(parse([': ping - 2026\n\nevent: state\n\n', 'event: phase\ndata: {"phase":"review"}\n\n'])).toEqual([
      { event: 'phase', data: '{"phase":"review"}', id: null },
    ])
  })

  it('drops an event the stream cut before its blank line', () => {
    /** A half-sent event is never shown as if it were complete. */
    expect(parse(['event: token\ndata: {"text":"par'])).toEqual([])
  })
})

function sseResponse(chunks: string[], status = 200): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c))
      controller.close()
    },
  })
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } })
}

describe('streamSse', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('POSTs the JSON body with the session cookie and parses each event as JSON', async () => {
    /** The chat stream is a POST carrying the message; its events arrive parsed, in order. */
    const fetch = vi.fn(async () =>
      sseResponse(['event: sources\ndata: []\n\nevent: tok', 'en\ndata: {"text":"Hi"}\n\n']),
    )
    vi.stubGlobal('fetch', fetch)
    const seen: StreamMessage[] = []
    await streamSse('echo/conversations/4/messages', { body: { content: 'hello' }, onMessage: (m) => seen.push(m) })
    expect(seen.map((m) => [m.event, m.data])).toEqual([
      ['sources', []],
      ['token', { text: 'Hi' }],
    ])
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toMatch(/\/api\/lora\/echo\/conversations\/4\/messages$/)
    expect(init.method).toBe('POST')
    expect(init.credentials).toBe('same-origin')
    expect(JSON.parse(String(init.body))).toEqual({ content: 'hello' })
  })

  it('throws the server refusal as ApiError with its code', async () => {
    /** A refused stream (e.g. an oversized message) shows the server's message, not a blank. */
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () => new Response(JSON.stringify({ detail: 'Too long', code: 'message_too_long' }), { status: 413 }),
      ),
    )
    const err = await streamSse('echo/x', { body: {}, onMessage: () => undefined }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(413)
    expect(err.code).toBe('message_too_long')
  })

  it('returns quietly when the caller aborts', async () => {
    /** Stop ends the stream without an error message. */
    const controller = new AbortController()
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        controller.abort()
        throw new DOMException('aborted', 'AbortError')
      }),
    )
    await expect(
      streamSse('echo/x', { signal: controller.signal, onMessage: () => undefined }),
    ).resolves.toBeUndefined()
  })
})
