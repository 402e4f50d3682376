import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError } from '@/api/errors'
import { echoApi, type ConversationSummary, type EchoStatus } from './api'
import { applyChatEvent, begin, finish, type ChatLine } from './chat'

/** Echo Brain's panel: whether it is open, Ollama's state, the project's conversations and the one
 * on screen, whose answer streams in through the chat reducer. */
export const useEcho = defineStore('echo', () => {
  const open = ref(false)
  const project = ref<string | null>(null)
  const status = ref<EchoStatus | null>(null)
  const statusError = ref<ApiError | null>(null)
  const conversations = ref<ConversationSummary[]>([])
  const currentId = ref<number | null>(null)
  const lines = ref<ChatLine[]>([])
  const error = ref('')
  let controller: AbortController | null = null

  const streaming = computed(() => lines.value.some((l) => l.streaming))
  /** Ollama is set up and reachable: chat can work. */
  const ready = computed(() => !!status.value?.ollama.configured && status.value.ollama.reachable)

  const message = (e: unknown) => (e instanceof Error ? e.message : String(e))

  async function loadStatus() {
    try {
      status.value = await echoApi.status()
      statusError.value = null
    } catch (e) {
      status.value = null
      statusError.value = e instanceof ApiError ? e : new ApiError(0, { detail: message(e) })
    }
  }

  /** Opens the panel on a project: its status and conversation list, the latest conversation. */
  async function show(slug: string) {
    open.value = true
    if (project.value !== slug) {
      stop()
      project.value = slug
      conversations.value = []
      currentId.value = null
      lines.value = []
    }
    error.value = ''
    await loadStatus()
    await loadConversations()
    if (currentId.value === null && conversations.value[0]) await select(conversations.value[0].id)
  }

  async function loadConversations() {
    if (!project.value) return
    try {
      conversations.value = await echoApi.conversations(project.value)
    } catch (e) {
      error.value = message(e)
    }
  }

  async function select(id: number) {
    if (streaming.value) stop()
    currentId.value = id
    error.value = ''
    try {
      const found = await echoApi.conversation(id)
      if (currentId.value === id) lines.value = found.messages
    } catch (e) {
      error.value = message(e)
    }
  }

  /** Re-reads the open conversation (a message was stored elsewhere); never while an answer streams. */
  async function reload() {
    const id = currentId.value
    if (id === null || streaming.value) return
    const found = await echoApi.conversation(id)
    if (currentId.value === id && !streaming.value) lines.value = found.messages
  }

  function startNew() {
    stop()
    currentId.value = null
    lines.value = []
    error.value = ''
  }

  /** Sends a message (creating the conversation first when none is open) and streams the answer. */
  async function send(content: string) {
    const text = content.trim()
    if (!text || !project.value || streaming.value) return
    error.value = ''
    let id = currentId.value
    if (id === null) {
      try {
        const created = await echoApi.createConversation(project.value)
        id = created.id
        currentId.value = id
      } catch (e) {
        error.value = message(e)
        return
      }
    }
    lines.value = begin(lines.value, text)
    controller = new AbortController()
    const own = controller
    try {
      await echoApi.send(id, text, (m) => (lines.value = applyChatEvent(lines.value, m)), own.signal)
      lines.value = finish(
        lines.value,
        own.signal.aborted ? null : { detail: 'The answer ended early.', code: 'incomplete' },
      )
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, { detail: message(e) })
      lines.value = finish(lines.value, { detail: err.message, code: err.code })
    } finally {
      if (controller === own) controller = null
    }
    await loadConversations()
  }

  /** Stops the streaming answer (what arrived stays). */
  function stop() {
    controller?.abort()
    controller = null
    lines.value = finish(lines.value)
  }

  return {
    open,
    project,
    status,
    statusError,
    conversations,
    currentId,
    lines,
    error,
    streaming,
    ready,
    show,
    loadStatus,
    loadConversations,
    select,
    reload,
    startNew,
    send,
    stop,
  }
})
