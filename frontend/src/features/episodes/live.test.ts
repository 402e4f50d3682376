import { describe, expect, it } from 'vitest'
import { applyEpisodeEvent, episodeCode, scanLine, scanOf, type LiveEpisode } from './live'

const draft: LiveEpisode = { status: 'draft', progress: 0, step: '', error: null, published_path: null }
const ev = (type: string, payload: Record<string, unknown> = {}) => ({ type, payload })

describe('episode events', () => {
  it('assembly progress moves forward and marks the episode assembling', () => {
    const a = applyEpisodeEvent(draft, ev('episode.assembly_progress', { progress: 0.4, step: 'joining 2/3' }))
    expect(a).toMatchObject({ status: 'assembling', progress: 0.4, step: 'joining 2/3' })
    const b = applyEpisodeEvent(a, ev('episode.assembly_progress', { progress: 0.2, step: 'late' }))
    expect(b.progress).toBe(0.4) // a late reading never moves the bar back
  })

  it('a progress event after the run ended changes nothing', () => {
    const done = applyEpisodeEvent(draft, ev('episode.assembled', { duration_s: 9 }))
    expect(done).toMatchObject({ status: 'assembled', progress: 1 })
    expect(applyEpisodeEvent(done, ev('episode.assembly_progress', { progress: 0.9 }))).toEqual(done)
    const failed = applyEpisodeEvent(draft, ev('episode.failed', { error: 'ffmpeg: no such file' }))
    expect(failed).toMatchObject({ status: 'failed', error: 'ffmpeg: no such file' })
    expect(applyEpisodeEvent(failed, ev('episode.assembly_progress', { progress: 0.9 })).status).toBe('failed')
  })

  it('publishing records where the file landed and the scan result', () => {
    const e = ev('episode.published', { path: '/lib/Show/Season 01/Show S01E01 - Hi.mp4', jellyfin: { scanned: true } })
    expect(applyEpisodeEvent(draft, e)).toMatchObject({ status: 'published', published_path: e.payload.path })
    expect(scanOf(e)).toEqual({ scanned: true, error: null })
    expect(scanOf(ev('episode.published', { path: 'x', jellyfin: { scanned: false, error: '401' } }))).toEqual({
      scanned: false,
      error: '401',
    })
    expect(scanOf(ev('episode.assembled'))).toBeNull()
  })
})

describe('what the publish panel says about Jellyfin', () => {
  const up = { configured: true, reachable: true }
  it('prefers the scan this session saw over the health check', () => {
    expect(scanLine({ scanned: true, error: null }, up)).toEqual({
      tone: 'ok',
      text: 'Jellyfin library scan triggered',
    })
    expect(scanLine({ scanned: false, error: 'HTTP 401' }, up).text).toBe('Jellyfin scan failed: HTTP 401')
  })
  it('says when there is no Jellyfin to tell', () => {
    expect(scanLine(null, { configured: false, reachable: null }).text).toMatch(/not configured/)
    expect(scanLine(null, { configured: true, reachable: false }).tone).toBe('warn')
    expect(scanLine(null, null).text).toBe('')
  })
})

it('numbers episodes the way a show does', () => {
  expect(episodeCode(3)).toBe('E03')
  expect(episodeCode(112)).toBe('E112')
})
