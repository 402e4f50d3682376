import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useEcho } from './store'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
const sse = (text: string) => new Response(text, { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
const STATUS = {
  ollama: { configured: true, reachable: true, chat_model: 'llama3.1', embed_model: null, missing_models: [] },
  memory: { backend: 'local', points: 3, embedder: 'minilm', error: null },
}

/** Answers by method and path, like the server. */
function server(routes: Record<string, (req: Request) => Response>) {
  return vi.fn(async (input: Request | string, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init)
    const key = `${req.method} ${new URL(req.url).pathname.replace(/^.*\/api\/lora/, '')}`
    const route = routes[key]
    if (!route) throw new Error(`unexpected ${key}`)
    return route(req)
  })
}

describe('echo store', () => {
  beforeEach(() => setActivePinia(createPinia()))
  afterEach(() => vi.unstubAllGlobals())

  it('creates the conversation on the first message and streams the answer into it', async () => {
    /** The first question needs no setup step: the conversation is made, the answer streams in. */
    const fetch = server({
      'GET /echo/status': () => json(STATUS),
      'GET /echo/conversations': () => json([]),
      'POST /echo/conversations': () => json({ id: 7, project_id: 1, title: '', message_count: 0 }, 201),
      'POST /echo/conversations/7/messages': () =>
        sse(
          'event: sources\ndata: []\n\nevent: token\ndata: {"text":"Hi "}\n\nevent: token\ndata: {"text":"there"}\n\nevent: done\ndata: {"message_id": 12}\n\n',
        ),
    })
    vi.stubGlobal('fetch', fetch)
    const echo = useEcho()
    await echo.show('harbor')
    expect(echo.ready).toBe(true)
    await echo.send('  hello  ')
    expect(echo.currentId).toBe(7)
    expect(echo.lines.map((l) => [l.role, l.content, l.streaming ?? false])).toEqual([
      ['user', 'hello', false],
      ['assistant', 'Hi there', false],
    ])
    expect(echo.lines[1]!.id).toBe(12)
  })

  it('shows a refused message on its line and keeps the panel usable', async () => {
    /** An oversized or otherwise refused message says why, and the next one can be sent. */
    vi.stubGlobal(
      'fetch',
      server({
        'GET /echo/status': () => json(STATUS),
        'GET /echo/conversations': () => json([{ id: 3, project_id: 1, title: 'x', message_count: 0 }]),
        'GET /echo/conversations/3': () => json({ id: 3, title: 'x', messages: [] }),
        'POST /echo/conversations/3/messages': () =>
          json({ detail: 'String should have at most 8000 characters', code: 'validation_error' }, 422),
      }),
    )
    const echo = useEcho()
    await echo.show('harbor')
    await echo.send('x'.repeat(9000))
    expect(echo.lines[1]).toMatchObject({ streaming: false, error: { code: 'validation_error' } })
    expect(echo.streaming).toBe(false)
  })
})
