import { describe, expect, it } from 'vitest'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import {
  applyJobEvent,
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
