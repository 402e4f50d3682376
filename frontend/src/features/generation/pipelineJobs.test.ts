import { describe, expect, it } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import {
  applyBackgroundEvent,
  applyJobEvent,
  backgroundKeyOf,
  backgroundTitle,
  FOLLOWED_TASKS,
  fromEpisode,
  fromRun,
  fromScene,
  isRunningJob,
  jobLink,
  needsRow,
  normalStatus,
  pipelineOrder,
  type PipelineJob,
} from './pipelineJobs'

let seq = 0
const ev = (type: string, payload: Record<string, unknown>): StreamEvent => ({
  id: ++seq,
  type,
  project_id: 7,
  payload: { project_id: 7, ...payload },
  at: '',
})

const scene = (over: Partial<Parameters<typeof fromScene>[0]> = {}) =>
  fromScene({
    id: 3,
    project_id: 7,
    title: 'Rooftop',
    status: 'generating',
    progress: 0.5,
    step: 'shot 2 of 4',
    error: null,
    ...over,
  })

describe('normalStatus', () => {
  it('maps each row status onto queued / running / done / failed / cancelled / idle', () => {
    expect(normalStatus('scene', 'assembling')).toBe('running')
    expect(normalStatus('scene', 'draft')).toBe('idle')
    expect(normalStatus('training', 'succeeded')).toBe('done')
    expect(normalStatus('episode', 'publishing')).toBe('running')
    expect(normalStatus('episode', 'published')).toBe('done')
    expect(normalStatus('episode', 'draft')).toBe('idle')
    expect(normalStatus('episode', 'failed')).toBe('failed')
  })
})

describe('rows', () => {
  it('titles each kind and computes training progress from its steps', () => {
    expect(scene().title).toBe('Scene: Rooftop')
    const run = fromRun(
      {
        id: 5,
        project_id: 7,
        character_name: 'Mio',
        status: 'running',
        step: 250,
        total_steps: 1000,
        epoch: 2,
        error: null,
      },
      'mio',
    )
    expect(run).toMatchObject({
      title: 'Training: Mio',
      progress: 0.25,
      step: 'step 250/1000 · epoch 2',
      status: 'running',
    })
    const ep = fromEpisode({
      id: 9,
      project_id: 7,
      number: 2,
      title: 'Lanterns',
      status: 'assembled',
      progress: 1,
      step: '',
      error: null,
    })
    expect(ep).toMatchObject({ title: 'Episode 2: Lanterns', status: 'done' })
  })
})

describe('applyJobEvent', () => {
  it('follows a scene from its progress events to completion', () => {
    let job = applyJobEvent(
      undefined,
      ev('scene.progress', { scene_id: 3, status: 'generating', progress: 0.25, step: 'shot 1 of 4' }),
      7,
    )!
    expect(job).toMatchObject({
      key: 'scene:3',
      title: 'Scene #3',
      status: 'running',
      progress: 0.25,
      step: 'shot 1 of 4',
    })
    job = applyJobEvent(
      job,
      ev('shot.progress', { scene_id: 3, shot_id: 11, position: 2, status: 'reviewing', step: 'attempt 1: reviewing' }),
      7,
    )!
    expect(job.step).toBe('shot 2: attempt 1: reviewing')
    job = applyJobEvent(job, ev('scene.audio_skipped', { scene_id: 3, track: 'music', reason: 'ACE-Step failed' }), 7)!
    expect(job.step).toBe('music skipped: ACE-Step failed')
    job = applyJobEvent(job, ev('scene.completed', { scene_id: 3, output_url: 'scenes/3/output' }), 7)!
    expect(job).toMatchObject({ status: 'done', progress: 1 })
    expect(isRunningJob(job)).toBe(false)
  })

  it('records failures with their reason and cancellations', () => {
    const failed = applyJobEvent(
      scene(),
      ev('scene.failed', { scene_id: 3, error: 'shot 2: no attempt could be scored' }),
      7,
    )!
    expect(failed).toMatchObject({ status: 'failed', error: 'shot 2: no attempt could be scored' })
    const cancelled = applyJobEvent(scene(), ev('scene.cancelled', { scene_id: 3 }), 7)!
    expect(cancelled.status).toBe('cancelled')
  })

  it('follows training steps and an episode through assembly and publishing', () => {
    let run = applyJobEvent(undefined, ev('training.queued', { run_id: 5, character_id: 2 }), 7)!
    expect(run).toMatchObject({ kind: 'training', status: 'queued' })
    run = applyJobEvent(
      run,
      ev('training.progress', { run_id: 5, character_id: 2, step: 30, total_steps: 120, epoch: 1 }),
      7,
    )!
    expect(run).toMatchObject({ status: 'running', progress: 0.25, step: 'step 30/120 · epoch 1' })
    run = applyJobEvent(run, ev('training.completed', { run_id: 5, character_id: 2, lora_id: 1, output_path: 'x' }), 7)!
    expect(run.status).toBe('done')

    let ep = applyJobEvent(
      undefined,
      ev('episode.assembly_progress', { episode_id: 9, progress: 0.4, step: 're-encode' }),
      7,
    )!
    expect(ep).toMatchObject({ kind: 'episode', status: 'running', progress: 0.4 })
    ep = applyJobEvent(ep, ev('episode.assembled', { episode_id: 9 }), 7)!
    expect(ep).toMatchObject({ status: 'done', step: 'assembled' })
    ep = applyJobEvent(ep, ev('episode.published', { episode_id: 9, path: '/lib/x.mp4' }), 7)!
    expect(ep).toMatchObject({ status: 'done', step: 'published' })
  })

  it('ignores events that start nothing for a job it does not follow, and other domains', () => {
    expect(applyJobEvent(undefined, ev('scene.updated', { scene_id: 3 }), 7)).toBeNull()
    expect(applyJobEvent(undefined, ev('training.sample', { run_id: 5, step: 10, url: 'u' }), 7)).toBeNull()
    expect(applyJobEvent(undefined, ev('generation.progress', { generation_id: 1 }), 7)).toBeNull()
    expect(applyJobEvent(scene(), ev('scene.updated', { scene_id: 3 }), 7)).toEqual(scene())
  })
})

describe('needsRow', () => {
  it('reads the row for a job first seen in an event, and when publishing starts', () => {
    const placeholder = applyJobEvent(
      undefined,
      ev('scene.progress', { scene_id: 3, status: 'queued', progress: 0, step: '' }),
      7,
    )!
    expect(needsRow(undefined, ev('scene.progress', { scene_id: 3 }))).toBe(true)
    expect(needsRow(placeholder, ev('scene.progress', { scene_id: 3 }))).toBe(true)
    expect(needsRow(scene(), ev('scene.progress', { scene_id: 3 }))).toBe(false)
    const ep = fromEpisode({
      id: 9,
      project_id: 7,
      number: 1,
      title: 'E',
      status: 'assembled',
      progress: 1,
      step: '',
      error: null,
    })
    expect(needsRow(ep, ev('episode.updated', { episode_id: 9 }))).toBe(true)
  })
})

describe('jobLink and order', () => {
  it('links each job to its place', () => {
    expect(jobLink(scene(), 'demo')).toEqual({ name: 'scenes', params: { projectSlug: 'demo', sceneId: '3' } })
    const ep = fromEpisode({
      id: 9,
      project_id: 7,
      number: 1,
      title: 'E',
      status: 'assembling',
      progress: 0,
      step: '',
      error: null,
    })
    expect(jobLink(ep, 'demo')).toEqual({ name: 'episodes', params: { projectSlug: 'demo', episodeId: '9' } })
    const run = fromRun(
      {
        id: 5,
        project_id: 7,
        character_name: 'Mio',
        status: 'running',
        step: 0,
        total_steps: 0,
        epoch: 0,
        error: null,
      },
      'mio',
    )
    expect(jobLink(run, 'demo')).toEqual({
      name: 'train',
      params: { projectSlug: 'demo' },
      query: { character: 'mio' },
    })
  })

  it('puts running jobs first, then queued, then finished, newest first', () => {
    const jobs: PipelineJob[] = [
      scene({ id: 1, status: 'done' }),
      scene({ id: 2, status: 'queued' }),
      scene({ id: 3, status: 'generating' }),
      scene({ id: 4, status: 'failed' }),
    ]
    expect(jobs.sort(pipelineOrder).map((j) => j.id)).toEqual([3, 2, 4, 1])
  })
})

const job = (type: string, task: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}, id = 40) =>
  ev(type, { job_id: id, task, queue: 'q', attempt: 1, args, ...extra })

describe('background jobs (job.* events)', () => {
  it('follows a job from job.started (running, no measure of progress) to job.succeeded (done)', () => {
    /** A background job is running from its start and done at its success, in one row per task+ids. */
    const started = applyBackgroundEvent(undefined, job('job.started', 'review:metrics', { character_id: 3 }), 7)!
    expect(started).toMatchObject({
      kind: 'background',
      key: 'background:review:metrics:character_id=3',
      id: 40,
      title: 'Metrics review · character #3',
      status: 'running',
      progress: 0,
      error: null,
    })
    expect(isRunningJob(started)).toBe(true)
    const done = applyBackgroundEvent(
      started,
      job('job.succeeded', 'review:metrics', { character_id: 3 }, { duration_s: 2.25 }),
      7,
    )!
    expect(done).toMatchObject({ key: started.key, status: 'done', progress: 1, step: 'done in 2.3 s' })
    expect(isRunningJob(done)).toBe(false)
  })

  it('shows a failure with its error, or keeps the job running as "retrying" when it will be retried', () => {
    /** will_retry true is no failure yet (status stays running); will_retry false is failed + error. */
    const args = { character_id: 3 }
    const retrying = applyBackgroundEvent(
      undefined,
      job('job.failed', 'vision:review', args, { duration_s: 1, error: 'VisionUnavailable: 503', will_retry: true }),
      7,
    )!
    expect(retrying).toMatchObject({ status: 'running', error: null })
    expect(retrying.step).toContain('retrying')
    expect(retrying.step).toContain('VisionUnavailable: 503')
    const failed = applyBackgroundEvent(
      retrying,
      job('job.failed', 'vision:review', args, { duration_s: 1, error: 'VisionUnavailable: 503', will_retry: false }),
      7,
    )!
    expect(failed).toMatchObject({ status: 'failed', error: 'VisionUnavailable: 503' })
    expect(isRunningJob(failed)).toBe(false)
  })

  it('ignores the tasks the indicator follows through their own domain events', () => {
    /** generation/training/scene/episode jobs would otherwise show twice. */
    for (const task of ['generation:run', 'training:run', 'scene:run', 'episode:assemble', 'episode:publish']) {
      expect(FOLLOWED_TASKS.has(task)).toBe(true)
      expect(backgroundKeyOf(job('job.started', task, { scene_id: 1 }))).toBeNull()
      expect(applyBackgroundEvent(undefined, job('job.started', task, { scene_id: 1 }), 7)).toBeNull()
    }
    expect(applyBackgroundEvent(undefined, ev('scene.progress', { scene_id: 1 }), 7)).toBeNull()
  })

  it('shows a periodic job failure in words, one row per task whatever its timestamp', () => {
    /** Housekeeping failing every minute stays one calm row; its title is in words. */
    const first = job('job.failed', 'core:prune_events', { timestamp: 1 }, { error: 'boom', will_retry: false }, 50)
    const again = job('job.failed', 'core:prune_events', { timestamp: 61 }, { error: 'boom', will_retry: false }, 51)
    expect(backgroundKeyOf(first)).toBe(backgroundKeyOf(again))
    const row = applyBackgroundEvent(undefined, first, 7)!
    expect(row).toMatchObject({ title: 'Event pruning', status: 'failed', error: 'boom' })
    expect(jobLink(row, 'demo')).toBeNull()
  })

  it("ignores an older run's news once a newer run of the same task and ids is shown", () => {
    /** Rows keep the newest job: a late event of an earlier job never overwrites it. */
    const newer = applyBackgroundEvent(
      undefined,
      job('job.started', 'replenish:check', { character_id: 3 }, {}, 41),
      7,
    )!
    const stale = job('job.failed', 'replenish:check', { character_id: 3 }, { error: 'x', will_retry: false }, 40)
    expect(applyBackgroundEvent(newer, stale, 7)).toBeNull()
  })

  it('titles jobs by task and subject, and falls back to the task name', () => {
    const run = (task: string, ids: Record<string, number>) => ({ task, ids, attempt: 1 })
    expect(backgroundTitle(run('vision:review', { character_id: 3 }))).toBe('Vision review · character #3')
    expect(backgroundTitle(run('vision:review', { character_id: 3 }), 'Mio')).toBe('Vision review · Mio')
    expect(backgroundTitle(run('farm:run_pilot', { pilot_id: 4 }))).toBe('Pilot #4')
    expect(backgroundTitle(run('farm:hero_pass', { scene_id: 2 }))).toBe('Hero pass · scene #2')
    expect(backgroundTitle(run('echo:sync_memory', { project_id: 7 }))).toBe('Memory sync')
    expect(backgroundTitle(run('new:thing', {}))).toBe('new:thing')
  })

  it('links reviews to the Approve tab of the character, pilots to Scenes and memory sync to Echo', () => {
    const row = (task: string, args: Record<string, unknown>) =>
      applyBackgroundEvent(undefined, job('job.started', task, args), 7)!
    expect(jobLink({ ...row('vision:review', { character_id: 3 }), characterSlug: 'mio' }, 'demo')).toEqual({
      name: 'approve',
      params: { projectSlug: 'demo' },
      query: { character: 'mio' },
    })
    expect(jobLink(row('farm:hero_pass', { scene_id: 2 }), 'demo')).toEqual({
      name: 'scenes',
      params: { projectSlug: 'demo', sceneId: '2' },
    })
    expect(jobLink(row('team:run', { session_id: 5 }), 'demo')).toEqual({
      name: 'team',
      params: { projectSlug: 'demo', sessionId: '5' },
    })
    expect(jobLink(row('echo:sync_memory', { project_id: 7, rebuild: false }), 'demo')).toBe('echo')
  })
})
