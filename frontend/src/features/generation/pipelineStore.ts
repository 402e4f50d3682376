import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { characterApi } from '@/features/characters/api'
import { useCharacters } from '@/features/characters/store'
import { episodeApi } from '@/features/episodes/api'
import { sceneApi } from '@/features/scenes/api'
import { trainingApi } from '@/features/training/api'
import { jobApi } from './api'
import {
  applyBackgroundEvent,
  applyJobEvent,
  backgroundKeyOf,
  backgroundTitle,
  eventSubject,
  countsInBadge,
  fromEpisode,
  fromRun,
  fromRunningJob,
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
/** Finished background jobs kept in the drawer (failed ones stay until dismissed or until a later
 * success of the same task and ids replaces them). */
export const RECENT_BACKGROUND = 5

/** Scene generation, training runs and episode assembly/publishing of the open project, for the
 * top bar's job indicator: running scenes and episodes are read when the project opens, then
 * everything follows the event stream (a training run appears with its next event). Background
 * jobs (reviews, ingestion, memory sync...) running when the project opens are read too (GET
 * /jobs/running), then follow the worker's `job.*` events, those of the open project and those of
 * no project (housekeeping failures). */
export const usePipelineJobs = defineStore('pipelineJobs', () => {
  const byKey = ref<Record<string, PipelineJob>>({})
  const projectId = ref<number | null>(null)
  const slugs = new Map<number, string>() // character id -> slug, for the Train tab's address
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  const characters = useCharacters()

  /** A background job about a character the characters store holds: titled with its name, linked
   * with its slug. */
  function named(job: PipelineJob): PipelineJob {
    const id = job.background?.ids.character_id
    if (id === undefined || characters.projectId !== job.projectId) return job
    const character = characters.items.find((c) => c.id === id) ?? characters.archived.find((c) => c.id === id)
    if (!character) return job
    return { ...job, title: backgroundTitle(job.background!, character.name), characterSlug: character.slug }
  }

  const list = computed(() =>
    Object.values(byKey.value)
      .filter((j) => j.status !== 'idle')
      .map((j) => (j.kind === 'background' ? named(j) : j))
      .sort(pipelineOrder),
  )
  /** Running and queued jobs of every kind but upkeep: the badge's count. */
  const active = computed(() => list.value.filter(countsInBadge))
  const activeCount = computed(() => active.value.length)
  /** Finished scenes, training runs and episodes. */
  const recent = computed(() =>
    list.value.filter((j) => !isRunningJob(j) && j.kind !== 'background').slice(0, RECENT_JOBS),
  )
  /** Background jobs, running and finished (at most RECENT_BACKGROUND done ones, see trim). */
  const background = computed(() => list.value.filter((j) => j.kind === 'background'))

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
    const [scenes, episodes, running] = await Promise.allSettled([
      sceneApi.list(forProject),
      episodeApi.list(projectSlug),
      jobApi.running(forProject),
    ])
    if (projectId.value !== forProject) return
    if (scenes.status === 'fulfilled') for (const s of scenes.value.items) put(fromScene(s))
    if (episodes.status === 'fulfilled') for (const e of episodes.value.items) put(fromEpisode(e))
    if (running.status === 'fulfilled')
      for (const row of running.value) {
        const job = fromRunningJob(row, forProject)
        const known = job && byKey.value[job.key]
        // an event that came while the list was read is as new or newer
        if (job && !(known && known.id >= job.id)) put(job)
      }
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

  /** Drops the oldest succeeded background jobs beyond RECENT_BACKGROUND (failed ones stay). */
  function trim() {
    const done = Object.values(byKey.value)
      .filter((j) => j.kind === 'background' && j.status === 'done')
      .sort((a, b) => b.id - a.id)
      .slice(RECENT_BACKGROUND)
    if (!done.length) return
    const kept = { ...byKey.value }
    for (const j of done) delete kept[j.key]
    byKey.value = kept
  }

  /** Removes a finished background job from the drawer. */
  function dismiss(key: string) {
    const job = byKey.value[key]
    if (!job || job.kind !== 'background' || isRunningJob(job)) return
    const { [key]: _gone, ...rest } = byKey.value
    byKey.value = rest
  }

  function applyBackground(event: StreamEvent, forProject: number) {
    const key = backgroundKeyOf(event)
    if (!key) return
    const next = applyBackgroundEvent(byKey.value[key], event, forProject)
    if (!next) return
    put(next)
    if (next.status === 'done') trim()
  }

  /** Live update: a `scene.*`, `shot.*`, `training.*`, `episode.*` or `job.*` event of the stream. */
  function applyEvent(event: StreamEvent) {
    const project = typeof event.payload.project_id === 'number' ? event.payload.project_id : event.project_id
    if (projectId.value === null) return
    if (event.type.startsWith('job.')) {
      if (project === null || project === projectId.value) applyBackground(event, projectId.value)
      return
    }
    if (project !== projectId.value) return
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

  return { byKey, projectId, list, active, activeCount, recent, background, load, applyEvent, dismiss }
})
