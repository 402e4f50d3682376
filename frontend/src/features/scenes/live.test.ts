import { describe, expect, it } from 'vitest'
import {
  applySceneEvent,
  applyShotEvent,
  attemptLabel,
  progressLine,
  audioWarnings,
  runEta,
  sampleRun,
  type LiveScene,
  type LiveShot,
} from './live'

const scene = (over: Partial<LiveScene> = {}): LiveScene => ({
  status: 'draft',
  progress: 0,
  step: '',
  error: null,
  output_url: null,
  duration_s: null,
  ...over,
})
const shot = (over: Partial<LiveShot> = {}): LiveShot => ({
  status: 'pending',
  attempt: 0,
  engine: null,
  quality_score: null,
  threshold: null,
  gate_passed: null,
  generation_id: null,
  is_animatic: false,
  ...over,
})
const ev = (type: string, payload: Record<string, unknown>) => ({ type, payload })

describe('applySceneEvent', () => {
  it('follows a run from queued to done', () => {
    let s = scene({ status: 'failed', error: 'earlier' })
    s = applySceneEvent(s, ev('scene.progress', { status: 'queued', progress: 0, step: 'queued' }))
    expect(s).toMatchObject({ status: 'queued', error: null })
    s = applySceneEvent(s, ev('scene.progress', { status: 'generating', progress: 0.4, step: 'shot 2/3' }))
    expect(s).toMatchObject({ status: 'generating', progress: 0.4, step: 'shot 2/3' })
    s = applySceneEvent(s, ev('scene.completed', { output_url: 'scenes/1/output', duration_s: 8.4 }))
    expect(s).toMatchObject({ status: 'done', progress: 1, output_url: 'scenes/1/output', duration_s: 8.4 })
  })

  it('a late progress event does not reopen a finished run', () => {
    const done = scene({ status: 'done', progress: 1 })
    expect(applySceneEvent(done, ev('scene.progress', { status: 'generating', progress: 0.9 }))).toEqual(done)
    const cancelled = scene({ status: 'cancelled' })
    expect(applySceneEvent(cancelled, ev('scene.progress', { status: 'assembling' })).status).toBe('cancelled')
  })

  it('a draft follows a run it missed the start of', () => {
    const s = applySceneEvent(scene(), ev('scene.progress', { status: 'generating', progress: 0.2, step: 'shot 1/2' }))
    expect(s).toMatchObject({ status: 'generating', progress: 0.2 })
  })

  it('failure keeps its message; cancel ends the run', () => {
    const running = scene({ status: 'generating', progress: 0.5 })
    expect(applySceneEvent(running, ev('scene.failed', { error: 'no backend can' }))).toMatchObject({
      status: 'failed',
      error: 'no backend can',
    })
    expect(applySceneEvent(running, ev('scene.cancelled', {})).status).toBe('cancelled')
  })

  it('ignores unknown statuses and does not change its input', () => {
    const running = scene({ status: 'generating' })
    expect(applySceneEvent(running, ev('scene.progress', { status: 'exploded' }))).toEqual(running)
    applySceneEvent(running, ev('scene.cancelled', {}))
    expect(running.status).toBe('generating')
  })
})

describe('applyShotEvent', () => {
  it('follows a shot through a failed gate, a retry and a pass', () => {
    let s = shot()
    s = applyShotEvent(s, ev('shot.progress', { status: 'generating', attempt: 1, engine: 'animatic', threshold: 0.6 }))
    expect(s).toMatchObject({ status: 'generating', attempt: 1, engine: 'animatic', is_animatic: true, threshold: 0.6 })
    s = applyShotEvent(
      s,
      ev('shot.progress', { status: 'reviewing', attempt: 1, quality_score: 0.5, threshold: 0.6, gate_passed: false }),
    )
    expect(s).toMatchObject({ status: 'reviewing', quality_score: 0.5, gate_passed: false })
    s = applyShotEvent(s, ev('shot.progress', { status: 'generating', attempt: 2, threshold: 0.45, generation_id: 9 }))
    expect(s).toMatchObject({ status: 'generating', attempt: 2, threshold: 0.45, generation_id: 9 })
    s = applyShotEvent(
      s,
      ev('shot.progress', { status: 'done', attempt: 2, quality_score: 0.52, threshold: 0.45, gate_passed: true }),
    )
    expect(s).toMatchObject({ status: 'done', attempt: 2, quality_score: 0.52, gate_passed: true })
  })

  it('never moves backwards: an older attempt or an earlier step of the same attempt is ignored', () => {
    const reviewing = shot({ status: 'reviewing', attempt: 2 })
    expect(applyShotEvent(reviewing, ev('shot.progress', { status: 'generating', attempt: 2 }))).toEqual(reviewing)
    expect(applyShotEvent(reviewing, ev('shot.progress', { status: 'done', attempt: 1 }))).toEqual(reviewing)
    const done = shot({ status: 'done', attempt: 1, quality_score: 0.8 })
    expect(applyShotEvent(done, ev('shot.progress', { status: 'reviewing', attempt: 1 }))).toEqual(done)
  })

  it('a reset shot (pending again) takes the new run from its first attempt', () => {
    const reset = shot({ status: 'pending', attempt: 0 })
    expect(applyShotEvent(reset, ev('shot.progress', { status: 'generating', attempt: 1 })).status).toBe('generating')
  })

  it('ignores other events and unknown statuses', () => {
    const s = shot({ status: 'generating', attempt: 1 })
    expect(applyShotEvent(s, ev('scene.progress', { status: 'done' }))).toEqual(s)
    expect(applyShotEvent(s, ev('shot.progress', { status: 'weird', attempt: 3 }))).toEqual(s)
  })
})

describe('progressLine', () => {
  const shots = [
    { position: 1, status: 'done' as const, attempt: 1 },
    { position: 2, status: 'reviewing' as const, attempt: 2 },
    { position: 3, status: 'pending' as const, attempt: 0 },
  ]
  it('names the running shot and its attempt', () => {
    expect(progressLine({ status: 'generating', step: 'x' }, shots)).toBe('shot 2/3, attempt 2/3 · reviewing')
  })
  it('otherwise says what the scene does', () => {
    expect(progressLine({ status: 'assembling', step: 'assembling 3 shots' }, shots)).toBe('assembling 3 shots')
    expect(progressLine({ status: 'queued', step: '' }, shots)).toContain('queued')
  })
  it('labels attempts only once there is one', () => {
    expect(attemptLabel({ attempt: 0 })).toBe('')
    expect(attemptLabel({ attempt: 2 })).toBe('attempt 2/3')
  })
})

describe('runEta', () => {
  it('projects the rate seen so far onto the rest', () => {
    let s = sampleRun(undefined, 0.1, 0)
    expect(runEta(s, 0)).toBeNull() // nothing seen yet
    s = sampleRun(s, 0.3, 10_000) // 0.2 in 10 s
    expect(runEta(s, 10_000)).toBeCloseTo(35) // 0.7 left at 0.02/s
    expect(runEta(s, 15_000)).toBeCloseTo(30) // the clock runs between readings
  })

  it('starts over when a new run begins and says nothing until enough is seen', () => {
    const old = sampleRun(sampleRun(undefined, 0.2, 0), 0.9, 10_000)
    const fresh = sampleRun(old, 0, 20_000)
    expect(fresh).toEqual({ t0: 20_000, p0: 0, t: 20_000, p: 0 })
    expect(runEta(sampleRun(fresh, 0.01, 25_000), 25_000)).toBeNull()
  })
})

describe('audioWarnings', () => {
  it('lists each track a finished scene was assembled without', () => {
    const step = 'done; dialogue skipped: speech server said 500; try later; music skipped: ACE-Step failed'
    expect(audioWarnings({ status: 'done', step })).toEqual([
      'dialogue skipped: speech server said 500; try later',
      'music skipped: ACE-Step failed',
    ])
  })
  it('is empty for a plain finish or a scene still running', () => {
    expect(audioWarnings({ status: 'done', step: 'done' })).toEqual([])
    expect(audioWarnings({ status: 'assembling', step: 'assembling without music' })).toEqual([])
  })
})
