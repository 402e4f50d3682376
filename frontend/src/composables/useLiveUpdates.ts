import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { bases } from '@/api/base'
import { useLearning } from '@/features/approval/learning'
import { useReplenishment } from '@/features/approval/replenish'
import { useApproval } from '@/features/approval/store'
import { useBackends } from '@/features/backends/store'
import { useCharacters } from '@/features/characters/store'
import { isForeignEcho } from '@/features/echo/chat'
import { useEcho } from '@/features/echo/store'
import { useEpisodes } from '@/features/episodes/store'
import { usePipelineJobs } from '@/features/generation/pipelineStore'
import { useGenerations } from '@/features/generation/store'
import { useProduction } from '@/features/production/store'
import { useWebhookLog } from '@/features/production/webhookLog'
import { useProjects } from '@/features/project/store'
import { useStyles } from '@/features/project/stylesStore'
import { usePilots } from '@/features/scenes/pilots'
import { useScenes } from '@/features/scenes/store'
import { useStory } from '@/features/story/store'
import { useTraining } from '@/features/training/store'

export interface StreamEvent {
  id: number
  type: string
  project_id: number | null
  payload: Record<string, unknown>
  at: string
}

/** Event types the stream sends as SSE `event:` names (an EventSource needs a listener per name).
 * Left out on purpose, as no store shows them: team.* (the team view follows its session's own
 * stream, so routing them here too would apply each turn twice), ingestion.progress/failed (no view
 * shows an ingestion's progress), echo.memory_updated and backend.slot_freed (the generation events
 * around a freed slot already reload the Backends page). */
export const EVENT_TYPES = [
  'project.created',
  'project.updated',
  'project.archived',
  'project.restored',
  'style.created',
  'style.updated',
  'style.deleted',
  'storyline.created',
  'storyline.updated',
  'storyline.deleted',
  'world_settings.updated',
  'character.created',
  'character.updated',
  'character.archived',
  'character.restored',
  'reference_image.added',
  'reference_image.deleted',
  'ingestion.completed',
  'generation.queued',
  'generation.submitted',
  'generation.progress',
  'generation.retrying',
  'generation.executed',
  'generation.completed',
  'generation.failed',
  'generation.cancelled',
  'backend.changed',
  'image.approved',
  'image.rejected',
  'image.scored',
  'feedback.recorded',
  'replenishment.batch',
  'regeneration.queued',
  'quality.drift',
  'training.queued',
  'training.started',
  'training.progress',
  'training.sample',
  'training.completed',
  'training.failed',
  'training.cancelled',
  'scene.created',
  'scene.updated',
  'scene.deleted',
  'scene.shots_changed',
  'scene.progress',
  'scene.completed',
  'scene.failed',
  'scene.cancelled',
  'scene.audio_skipped',
  'shot.progress',
  'pilot.changed',
  'episode.created',
  'episode.updated',
  'episode.deleted',
  'episode.assembly_progress',
  'episode.assembled',
  'episode.published',
  'episode.unpublished',
  'episode.failed',
  'budget.changed',
  'budget.warning',
  'budget.exceeded',
  'webhook.delivered',
  'webhook.failed',
  'webhook.test',
  'echo.conversation_created',
  'echo.message_added',
  'job.started',
  'job.succeeded',
  'job.failed',
] as const

export function streamUrl(projectId: number | null, after: number | null, apiBase = bases.apiBase): string {
  const params = new URLSearchParams()
  if (projectId !== null) params.set('project_id', String(projectId))
  if (after !== null) params.set('after', String(after))
  const query = params.toString()
  return `${apiBase}/events/stream${query ? `?${query}` : ''}`
}

/** Routes each event to the store that owns the data; refreshes are coalesced per key. */
export function useEventRouter() {
  const projects = useProjects()
  const styles = useStyles()
  const story = useStory()
  const characters = useCharacters()
  const generations = useGenerations()
  const backends = useBackends()
  const approval = useApproval()
  const replenishment = useReplenishment()
  const learning = useLearning()
  const training = useTraining()
  const scenes = useScenes()
  const pilots = usePilots()
  const episodes = useEpisodes()
  const pipelineJobs = usePipelineJobs()
  const production = useProduction()
  const webhookLog = useWebhookLog()
  const echo = useEcho()
  const timers = new Map<string, ReturnType<typeof setTimeout>>()

  function later(key: string, run: () => Promise<unknown>) {
    clearTimeout(timers.get(key))
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key)
        run().catch(() => undefined)
      }, 120),
    )
  }

  return function route(event: StreamEvent) {
    const [domain] = event.type.split('.')
    const num = (key: string) => (typeof event.payload[key] === 'number' ? (event.payload[key] as number) : undefined)
    // replenishment follows its batches and generations (the tab's indicator), and decisions while
    // its panel is open; learning follows decisions
    const replenishing =
      ['replenishment', 'regeneration'].includes(domain!) ||
      (domain === 'generation' && event.type !== 'generation.progress') ||
      (replenishment.panelOpen && ['image', 'feedback'].includes(domain!))
    if (replenishment.projectId !== null && replenishing) later('replenishment', () => replenishment.refresh())
    if (learning.characterId !== null && ['image', 'feedback', 'quality', 'regeneration'].includes(domain!)) {
      const id = num('character_id')
      if (id === undefined || id === learning.characterId) later('learning', () => learning.refresh())
    }
    // the Train tab follows its runs, and decisions (approved counts, readiness)
    if (['training', 'image', 'feedback'].includes(domain!)) training.applyEvent(event)
    // the top bar's job indicator follows scenes, training runs and episodes, and the worker's
    // other jobs through job.*
    if (['scene', 'shot', 'training', 'episode', 'job'].includes(domain!)) pipelineJobs.applyEvent(event)
    // spend vs budget follows jobs starting and ending; open delivery logs follow their deliveries
    production.applyEvent(event)
    if (domain === 'webhook') webhookLog.applyEvent(event)
    switch (domain) {
      case 'project':
        later('project', () => projects.refresh(num('project_id') ?? event.project_id ?? undefined))
        break
      case 'style':
        later('style', async () => {
          await styles.load()
          await projects.refresh()
        })
        break
      case 'storyline':
        later('storyline', () => story.refreshStorylines())
        break
      case 'world_settings':
        later('world', () => story.refreshWorld())
        break
      case 'character':
      case 'reference_image': {
        const id = num('character_id')
        later(`character:${id ?? 'all'}`, () => characters.refresh(id))
        if (domain === 'reference_image') later('project', () => projects.refresh(event.project_id ?? undefined))
        break
      }
      case 'generation':
        generations.applyEvent(event)
        scenes.applyGenerationEvent(event) // a shot's render
        // a job starting or ending changes its backend's running count
        if (event.type !== 'generation.progress' && backends.loaded) later('backends', () => backends.load())
        else if (backends.loaded) backends.applyProgress(event) // the Backends page's current jobs
        break
      case 'image':
      case 'feedback': {
        // a decision (undo included: feedback.recorded) changes the queue's counts and that image
        if (approval.projectId === null) break
        later('image-summary', () => approval.refreshSummary())
        const id = num('image_id')
        if (id !== undefined) later(`image:${id}`, () => approval.refreshImage(id))
        // image.scored: an automatic review added scores to images it left pending
        const scored = Array.isArray(event.payload.image_ids) ? (event.payload.image_ids as number[]) : []
        for (const each of scored) later(`image:${each}`, () => approval.refreshImage(each))
        break
      }
      case 'scene':
      case 'shot':
        scenes.applyEvent(event)
        if (domain === 'scene') episodes.applySceneEvent(event) // the open episode's scene changed
        break
      case 'episode':
        episodes.applyEvent(event)
        break
      case 'pilot':
        pilots.applyEvent(event)
        break
      case 'ingestion': {
        // ingestion.completed: the frames are pending images of the character's dataset
        const id = num('character_id')
        later(`character:${id ?? 'all'}`, () => characters.refresh(id))
        if (approval.projectId !== null) later('image-summary', () => approval.refreshSummary())
        break
      }
      case 'echo': {
        // another tab's or user's conversation; this tab's own sends are on screen already
        const id = num('conversation_id')
        if (!echo.open || !isForeignEcho(echo, id, num('message_id'))) break
        later('echo-list', () => echo.loadConversations())
        if (id === echo.currentId) later('echo-conversation', () => echo.reload())
        break
      }
      case 'backend': {
        const id = num('backend_id')
        if (id !== undefined) later(`backend:${id}`, () => backends.refreshOne(id))
        break
      }
    }
  }
}

/** One EventSource for the app, scoped to the open project. The browser resends Last-Event-ID
 * when it reconnects by itself; when the server closes the stream for good we reopen it with
 * `?after=<last id>` so nothing is missed. */
export function useLiveUpdates(projectId: Ref<number | null>, enabled: Ref<boolean>) {
  const connected = ref(false)
  const route = useEventRouter()
  let source: EventSource | null = null
  let lastId: number | null = null
  let retry: ReturnType<typeof setTimeout> | undefined

  function onMessage(message: MessageEvent<string>) {
    try {
      const event = JSON.parse(message.data) as StreamEvent
      if (typeof event.id === 'number') lastId = event.id
      route(event)
    } catch {
      /* a malformed message is skipped */
    }
  }

  function close() {
    clearTimeout(retry)
    source?.close()
    source = null
    connected.value = false
  }

  function open(after: number | null) {
    close()
    if (!enabled.value || typeof EventSource === 'undefined') return
    const es = new EventSource(streamUrl(projectId.value, after), { withCredentials: true })
    source = es
    es.onopen = () => (connected.value = true)
    es.onmessage = onMessage
    for (const type of EVENT_TYPES) es.addEventListener(type, onMessage as EventListener)
    es.onerror = () => {
      connected.value = false
      if (es.readyState === EventSource.CLOSED && source === es) {
        retry = setTimeout(() => open(lastId), 5000)
      }
    }
  }

  watch(
    [projectId, enabled],
    () => {
      lastId = null
      open(null)
    },
    { immediate: true },
  )
  onBeforeUnmount(close)

  return { connected }
}
