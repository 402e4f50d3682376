import { describe, expect, it } from 'vitest'
import type { Episode } from '@/features/episodes/api'
import type { Scene } from '@/features/scenes/api'
import { episodeClips, inDays, sceneClips } from './clips'
import { dayStart, readQuery, toApiFilters, withFilter } from './filters'

const scene = (id: number, output: boolean, updated_at: string) =>
  ({
    id,
    position: id,
    title: `S${id}`,
    status: output ? 'done' : 'draft',
    duration_s: output ? 4 : null,
    output_url: output ? `scenes/${id}/output` : null,
    updated_at,
  }) as Scene

const episode = (id: number, number: number, output: boolean) =>
  ({
    id,
    number,
    title: `E${id}`,
    status: output ? 'assembled' : 'draft',
    duration_s: 9,
    output_url: output ? `episodes/${id}/video` : null,
    thumbnail_url: output ? `episodes/${id}/thumbnail` : null,
    updated_at: '2026-03-01T10:00:00Z',
  }) as Episode

describe('scenes and episodes in the gallery', () => {
  it('shows only assembled ones, newest first', () => {
    const clips = sceneClips([
      scene(1, true, '2026-03-01T10:00:00Z'),
      scene(2, false, '2026-03-03T10:00:00Z'),
      scene(3, true, '2026-03-02T10:00:00Z'),
    ])
    expect(clips.map((c) => c.id)).toEqual([3, 1])
    expect(clips[0]).toMatchObject({
      kind: 'scene',
      label: 'Scene 3',
      file_url: 'scenes/3/output',
      thumbnail_url: null,
    })
    const eps = episodeClips([episode(5, 2, true), episode(6, 3, false)])
    expect(eps).toHaveLength(1)
    expect(eps[0]).toMatchObject({ label: 'E02', thumbnail_url: 'episodes/5/thumbnail' })
  })

  it('the date filter keeps whole calendar days', () => {
    const clips = sceneClips([scene(1, true, dayStart('2026-03-01', 0)), scene(2, true, dayStart('2026-03-03', 0))])
    expect(inDays(clips, '2026-03-01', '2026-03-01').map((c) => c.id)).toEqual([1])
    expect(inDays(clips, '2026-03-02', null).map((c) => c.id)).toEqual([2])
    expect(inDays(clips, null, null)).toHaveLength(2)
  })

  it('the kind is kept in the address bar, and never sent to the outputs gallery', () => {
    expect(readQuery({ kind: 'episode' }).kind).toBe('episode')
    expect(readQuery({ kind: 'scene' }).kind).toBe('scene')
    expect(toApiFilters({ ...readQuery({}), kind: 'scene' }, null).kind).toBeNull()
  })
  it('choosing scenes or episodes drops the character and dataset filters, which they do not have', () => {
    const f = { ...readQuery({}), character: 'aiko', status: 'approved' as const, since: '2026-03-01' }
    expect(withFilter(f, 'kind', 'episode')).toEqual({ ...f, kind: 'episode', character: null, status: null })
    expect(withFilter(f, 'kind', 'video')).toEqual({ ...f, kind: 'video' })
  })
})
