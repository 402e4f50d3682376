/** Server-sent events over fetch: the chat, narration and team streams are POSTs (or need the
 * session cookie on a GET we can abort), which EventSource cannot send. `createSseParser` is the
 * pure part (the WHATWG event-stream grammar: `event:`, `data:` lines joined with "\n", `id:`,
 * `:` comments such as sse-starlette's pings, a blank line dispatches); `streamSse` feeds it from
 * a fetch body. */
import { apiUrl } from '@/api/base'
import { ApiError, type ErrorBody } from '@/api/errors'

export interface SseMessage {
  event: string
  data: string
  id: string | null
}

export interface SseParser {
  /** Feeds a decoded chunk (any split: mid-line, mid-"\r\n"). */
  push: (chunk: string) => void
  /** The stream ended: an event without its closing blank line is dropped, as the spec says. */
  end: () => void
}

export function createSseParser(onMessage: (message: SseMessage) => void): SseParser {
  let buffer = ''
  let event = ''
  let data: string[] = []
  let lastId: string | null = null

  function line(text: string) {
    if (text === '') {
      if (data.length) onMessage({ event: event || 'message', data: data.join('\n'), id: lastId })
      event = ''
      data = []
      return
    }
    if (text.startsWith(':')) return
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id' && !value.includes('\0')) lastId = value
  }

  return {
    push(chunk: string) {
      buffer += chunk
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer)
        if (!match) break
        // a lone "\r" at the end may be the first half of "\r\n": wait for the next chunk
        if (match[0] === '\r' && match.index === buffer.length - 1) break
        line(buffer.slice(0, match.index))
        buffer = buffer.slice(match.index + match[0].length)
      }
    },
    end() {
      if (buffer.endsWith('\r')) line(buffer.slice(0, -1))
      buffer = ''
      event = ''
      data = []
    },
  }
}

/** An SSE event with its data parsed as JSON (the raw text where it is not JSON). */
export interface StreamMessage {
  event: string
  data: unknown
  id: string | null
}

export interface StreamOptions {
  method?: 'GET' | 'POST'
  body?: unknown
  signal?: AbortSignal
  onMessage: (message: StreamMessage) => void
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data)
  } catch {
    return data
  }
}

/** Opens `path` (relative to the API prefix) as an event stream and calls `onMessage` per event
 * until the server ends it. A refusal before the stream starts (4xx/5xx) throws ApiError with the
 * server's `{detail, code}`; an abort through `signal` returns quietly. */
export async function streamSse(path: string, options: StreamOptions): Promise<void> {
  let response: Response
  try {
    response = await globalThis.fetch(apiUrl(path), {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      credentials: 'same-origin',
      headers: {
        Accept: 'text/event-stream',
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    })
  } catch (e) {
    if (options.signal?.aborted) return
    throw new ApiError(0, { detail: `Cannot reach the server (${e instanceof Error ? e.message : e})` })
  }
  if (!response.ok) {
    let body: Partial<ErrorBody> | null = null
    try {
      body = (await response.json()) as Partial<ErrorBody>
    } catch {
      /* not JSON: the status says it */
    }
    throw new ApiError(response.status, body)
  }
  if (!response.body) return
  const parser = createSseParser((m) => options.onMessage({ event: m.event, data: parseData(m.data), id: m.id }))
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parser.push(value)
    }
    parser.end()
  } catch (e) {
    if (options.signal?.aborted) return
    throw new ApiError(0, { detail: `The stream broke off (${e instanceof Error ? e.message : e})` })
  } finally {
    reader.releaseLock()
  }
}
