/** Echo Brain (chat, memory, enhance, narrate) and the creative team: thin wrappers around the one
 * API client (typed from the OpenAPI schema), and the streams (see sse.ts). */
import { api, unwrap, type Body, type Resp } from '@/api/client'
import { streamSse, type StreamMessage } from './sse'

export type EchoStatus = Resp<'/echo/status', 'get'>
export type Source = Resp<'/echo/search', 'post'>[number]
export type SourceKind = Source['kind']
export type ConversationSummary = Resp<'/echo/conversations', 'get'>[number]
export type Conversation = Resp<'/echo/conversations/{conversation_id}', 'get'>
export type ChatMessage = Conversation['messages'][number]
export type Enhanced = Resp<'/echo/enhance', 'post'>
export type NarrateBody = Body<'/echo/narrate', 'post'>
export type NarrateMode = NonNullable<NarrateBody['mode']>

type SessionRead = Resp<'/team/sessions/{session_id}', 'get'>
export type TeamMessage = SessionRead['messages'][number]
export type Speaker = TeamMessage['speaker']
export type Phase = SessionRead['phase']
export type TeamStatus = SessionRead['status']
export type PlanParams = Record<string, unknown>
/** What the team plans (the server adds scene_id / character_id when it reads a session back). */
export type TeamTarget =
  | { kind: 'shot'; shot_id: number; scene_id?: number }
  | { kind: 'character_image'; character: string; character_id?: number }
export type TeamSession = Omit<Resp<'/team/sessions', 'post'>, 'target'> & { target: TeamTarget }
export type TeamSessionDetail = Omit<SessionRead, 'target'> & { target: TeamTarget }
export type Approved = Resp<'/team/sessions/{session_id}/approve', 'post'>
/** Each specialist's Ollama model in a project (a role nobody assigned reads as the chat model). */
export type TeamModels = Resp<'/team/models', 'get'>

const conversation = (conversation_id: number) => ({ params: { path: { conversation_id } } })

export const echoApi = {
  status: () => unwrap(api.GET('/echo/status')),
  conversations: (project: string) => unwrap(api.GET('/echo/conversations', { params: { query: { project } } })),
  createConversation: (project: string) => unwrap(api.POST('/echo/conversations', { body: { project } })),
  conversation: (id: number) => unwrap(api.GET('/echo/conversations/{conversation_id}', conversation(id))),
  enhance: (project: string, prompt: string, character?: string | null) =>
    unwrap(api.POST('/echo/enhance', { body: { project, prompt, character: character || null } })),
  search: (project: string, query: string, limit = 8) =>
    unwrap(api.POST('/echo/search', { body: { project, query, limit } })),

  /** Sends a message; the answer streams as `sources`, `token`…, `done` (or `error`). */
  send: (id: number, content: string, onMessage: (m: StreamMessage) => void, signal?: AbortSignal) =>
    streamSse(`echo/conversations/${id}/messages`, { body: { content }, onMessage, signal }),
  /** Drafts or extends a storyline/world field; streams `token`…, `done` (nothing is saved). */
  narrate: (body: NarrateBody, onMessage: (m: StreamMessage) => void, signal?: AbortSignal) =>
    streamSse('echo/narrate', { body, onMessage, signal }),
}

const sid = (session_id: number) => ({ params: { path: { session_id } } })
const asSession = <T extends { target: unknown }>(s: T) => s as Omit<T, 'target'> & { target: TeamTarget }

export const teamApi = {
  start: async (body: { project: string; target: TeamTarget; brief?: string; max_rounds?: number }) =>
    asSession(await unwrap(api.POST('/team/sessions', { body }))),
  list: async (project: string) =>
    (await unwrap(api.GET('/team/sessions', { params: { query: { project } } }))).map(asSession),
  get: async (id: number) => asSession(await unwrap(api.GET('/team/sessions/{session_id}', sid(id)))),
  interject: (id: number, content: string) =>
    unwrap(api.POST('/team/sessions/{session_id}/interject', { ...sid(id), body: { content } })),
  answer: (id: number, answer: { option_index: number } | { content: string }) =>
    unwrap(api.POST('/team/sessions/{session_id}/answer', { ...sid(id), body: answer })),
  editPlan: async (id: number, params: PlanParams) =>
    asSession(await unwrap(api.PATCH('/team/sessions/{session_id}/plan', { ...sid(id), body: { params } }))),
  approve: (id: number, params?: PlanParams) =>
    unwrap(api.POST('/team/sessions/{session_id}/approve', { ...sid(id), body: params ? { params } : {} })),
  cancel: async (id: number) => asSession(await unwrap(api.POST('/team/sessions/{session_id}/cancel', sid(id)))),
  models: (project: string) => unwrap(api.GET('/team/models', { params: { query: { project } } })),
  putModels: (project: string, body: TeamModels) =>
    unwrap(api.PUT('/team/models', { params: { query: { project } }, body })),
  /** The session's live stream: `message`, `token`, `phase`, `consensus`, `question`, `plan`,
   * `state`; `after` resumes after the last stored event seen. */
  stream: (id: number, after: string | null, onMessage: (m: StreamMessage) => void, signal?: AbortSignal) =>
    streamSse(`team/sessions/${id}/stream${after ? `?after=${encodeURIComponent(after)}` : ''}`, {
      onMessage,
      signal,
    }),
}
