/** The chat transcript as a pure reducer: a sent message adds the user's line and an empty
 * assistant line; the stream's `sources`, `token`, `done` and `error` events fill that line in.
 * Kept apart from the store so the event order rules are tested on their own. */
import type { ChatMessage, Source } from './api'
import type { StreamMessage } from './sse'

export interface StreamError {
  detail: string
  code: string
}

export interface ChatLine extends ChatMessage {
  /** the answer is still streaming in */
  streaming?: boolean
  error?: StreamError | null
}

let localId = 0
/** Ids for lines the server has not numbered yet (negative, so they never clash). */
export const nextLocalId = () => --localId

export function begin(lines: ChatLine[], content: string, now = new Date().toISOString()): ChatLine[] {
  return [
    ...lines,
    { id: nextLocalId(), role: 'user', content, sources: [], created_at: now },
    { id: nextLocalId(), role: 'assistant', content: '', sources: [], created_at: now, streaming: true, error: null },
  ]
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Applies one stream event to the streaming (last) assistant line; other lines are untouched. */
export function applyChatEvent(lines: ChatLine[], message: StreamMessage): ChatLine[] {
  let index = lines.length - 1
  while (index >= 0 && !(lines[index]!.role === 'assistant' && lines[index]!.streaming)) index--
  if (index === -1) return lines
  const line = { ...lines[index]! }
  const data = message.data
  switch (message.event) {
    case 'sources':
      line.sources = Array.isArray(data) ? (data as Source[]) : []
      break
    case 'token':
      if (isRecord(data) && typeof data.text === 'string') line.content += data.text
      break
    case 'done':
      line.streaming = false
      if (isRecord(data) && typeof data.message_id === 'number') line.id = data.message_id
      break
    case 'error':
      line.streaming = false
      line.error = {
        detail: isRecord(data) && typeof data.detail === 'string' ? data.detail : 'The answer failed.',
        code: isRecord(data) && typeof data.code === 'string' ? data.code : 'error',
      }
      break
    default:
      return lines
  }
  return lines.map((l, i) => (i === index ? line : l))
}

/** The stream ended or broke without `done`/`error`: the line stops streaming, with `error` when
 * one is given (a refused request, a broken connection), or as stopped by the user. */
export function finish(lines: ChatLine[], error: StreamError | null = null): ChatLine[] {
  return lines.map((l) =>
    l.role === 'assistant' && l.streaming ? { ...l, streaming: false, error: l.error ?? error } : l,
  )
}

/** What the UI says about a failed answer: a missing model says how to fix it. */
export function errorText(error: StreamError): string {
  if (error.code === 'model_missing' && !/pull/i.test(error.detail))
    return `${error.detail} — pull it with \`ollama pull\` or pick another model.`
  return error.detail
}

/** A source chip's short label: its kind, then its title. */
export const SOURCE_LABEL: Record<string, string> = {
  storyline: 'Storyline',
  world: 'World',
  character: 'Character',
  scene: 'Scene',
  shot: 'Shot',
  review: 'Review',
  note: 'Note',
}

/** What the panel shows, as far as a live `echo.*` event is concerned. */
export interface ChatView {
  currentId: number | null
  lines: ChatLine[]
  streaming: boolean
}

/** Whether a live `echo.conversation_created` / `echo.message_added` event tells this tab something
 * it does not show yet: another tab or user started a conversation or wrote into one. This tab's
 * own sends are already on screen (its sent lines keep local negative ids, its answer carries the
 * stored id from `done`), so they are not fetched a second time. */
export function isForeignEcho(view: ChatView, conversationId?: number, messageId?: number): boolean {
  if (conversationId === undefined) return false
  if (conversationId !== view.currentId) return true
  if (view.streaming || messageId === undefined) return false
  if (view.lines.some((l) => l.id === messageId)) return false
  return !view.lines.some((l) => l.id < 0)
}
