import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { characterApi } from '@/features/characters/api'
import { episodeApi } from '@/features/episodes/api'
import { sceneApi } from '@/features/scenes/api'
import { trainingApi } from '@/features/training/api'
import {
  applyJobEvent,
  eventSubject,
  fromEpisode,
  fromRun,
  fromScene,
  isRunningJob,
  jobKey,
  needsRow,
  pipelineOrder,
  type PipelineJob,
  type PipelineKind,
} from './pipelineJobs'

/** Events about one job are coalesced into one fetch of its row. */
export const ROW_DELAY_MS = 200
/** Finished jobs kept in the drawer. */
export const RECENT_JOBS = 8

/** Scene generation, training runs and episode assembly/publishing of the open project, for the
 * top bar's job indicator: running scenes and episodes are read when the project opens, then
 * everything follows the event stream (a training run appears with its next event). */
export const usePipelineJobs = defineStore('pipelineJobs', () => {
  const byKey = ref<Record<string, PipelineJob>>({})
  const projectId = ref<number | null>(null)
  const slugs = new Map<number, string>() // character id -> slug, for the Train tab's address
  const timers = new Map<string, ReturnType<typeof setTimeout>>()

  const list = computed(() =>
    Object.values(byKey.value)
      .filter((j) => j.status !== 'idle')
      .sort(pipelineOrder),
  )
  const active = computed(() => list.value.filter(isRunningJob))
  const activeCount = computed(() => active.value.length)
  const recent = computed(() => list.value.filter((j) => !isRunningJob(j)).slice(0, RECENT_JOBS))

  function put(job: PipelineJob) {
    if (job.projectId !== projectId.value) return
    byKey.value = { ...byKey.value, [job.key]: job }
  }

  async function load(forProject: number, projectSlug: string) {
    if (projectId.value !== forProject) {
      byKey.value = {}
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    }
    projectId.value = forProject
    const [scenes, episodes] = await Promise.allSettled([sceneApi.list(forProject), episodeApi.list(projectSlug)])
    if (projectId.value !== forProject) return
    if (scenes.status === 'fulfilled') for (const s of scenes.value.items) put(fromScene(s))
    if (episodes.status === 'fulfilled') for (const e of episodes.value.items) put(fromEpisode(e))
  }

  async function readRow(kind: PipelineKind, id: number): Promise<PipelineJob> {
    if (kind === 'scene') return fromScene(await sceneApi.get(id))
    if (kind === 'episode') return fromEpisode(await episodeApi.get(id))
    const run = await trainingApi.get(id)
    if (!slugs.has(run.character_id)) slugs.set(run.character_id, (await characterApi.get(run.character_id)).slug)
    return fromRun(run, slugs.get(run.character_id) ?? null)
  }

  function fetchSoon(kind: PipelineKind, id: number) {
    const key = jobKey(kind, id)
    clearTimeout(timers.get(key))
    timers.set(
      key,
      setTimeout(async () => {
        timers.delete(key)
        try {
          const row = await readRow(kind, id)
          const known = byKey.value[key]
          // a progress event that came while the row was read is newer than the row
          put(
            known && isRunningJob(known) && isRunningJob(row)
              ? { ...row, progress: known.progress, step: known.step }
              : row,
          )
        } catch {
          /* gone or unreachable: what the events said stays */
        }
      }, ROW_DELAY_MS),
    )
  }

  /** Live update: a `scene.*`, `shot.*`, `training.*` or `episode.*` event of the stream. */
  function applyEvent(event: StreamEvent) {
    const project = typeof event.payload.project_id === 'number' ? event.payload.project_id : event.project_id
    if (projectId.value === null || project !== projectId.value) return
    const subject = eventSubject(event)
    if (!subject) return
    const key = jobKey(subject.kind, subject.id)
    const prev = byKey.value[key]
    if (event.type.endsWith('.deleted')) {
      const { [key]: _gone, ...rest } = byKey.value
      byKey.value = rest
      return
    }
    const next = applyJobEvent(prev, event, projectId.value)
    if (next) put(next)
    if (next && needsRow(prev, event)) fetchSoon(subject.kind, subject.id)
  }

  return { byKey, projectId, list, active, activeCount, recent, load, applyEvent }
})
