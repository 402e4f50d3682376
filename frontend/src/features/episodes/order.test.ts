import { describe, expect, it } from 'vitest'
import { assembleBlocker, candidates, chapters, moveScene, sceneIds, stripTotals, type StripScene } from './order'

const s = (scene_id: number, position: number, over: Partial<StripScene> = {}): StripScene => ({
  scene_id,
  position,
  duration_s: 2,
  has_output: true,
  title: `Scene ${scene_id}`,
  ...over,
})
const strip = [s(10, 1), s(20, 2), s(30, 3)]

describe('scene strip order', () => {
  it('moving a scene sends the whole new order and renumbers the positions', () => {
    const next = moveScene(strip, 30, 1)
    expect(sceneIds(next)).toEqual([30, 10, 20])
    expect(next.map((x) => x.position)).toEqual([1, 2, 3])
    expect(sceneIds(strip)).toEqual([10, 20, 30]) // the strip it was given is kept (to roll back)
  })
  it('an unknown scene or its own place changes nothing', () => {
    expect(sceneIds(moveScene(strip, 99, 1))).toEqual([10, 20, 30])
    expect(moveScene(strip, 20, 2)).toEqual(strip)
  })
})

describe('add-scene picker', () => {
  const project = [
    { id: 30, position: 3, title: 'c', status: 'done', duration_s: 2, output_url: 'scenes/30/output' },
    { id: 10, position: 1, title: 'a', status: 'done', duration_s: 2, output_url: 'scenes/10/output' },
    { id: 40, position: 4, title: 'd', status: 'draft', duration_s: null, output_url: null },
  ]
  it("offers the project's scenes not yet in the episode, in story order", () => {
    expect(candidates(project, [s(10, 1)]).map((p) => p.id)).toEqual([30, 40])
    expect(candidates(project, [s(10, 1), s(30, 2), s(40, 3)])).toEqual([])
  })
})

describe('assemble', () => {
  it('needs at least one scene, each with its video, and no run going on', () => {
    expect(assembleBlocker('draft', [])).toBe('Add a scene first')
    expect(assembleBlocker('draft', [s(1, 1), s(2, 2, { has_output: false, title: 'Dusk' })])).toBe(
      '“Dusk” has no assembled video yet',
    )
    expect(assembleBlocker('draft', [s(1, 1, { has_output: false }), s(2, 2, { has_output: false })])).toMatch(/^2 /)
    expect(assembleBlocker('assembling', strip)).toBe('The episode is assembling')
    expect(assembleBlocker('published', strip)).toBeNull()
  })
  it('totals the length and counts the scenes without video', () => {
    expect(stripTotals([s(1, 1, { duration_s: 1.5 }), s(2, 2, { duration_s: null, has_output: false })])).toEqual({
      duration: 1.5,
      missing: 1,
    })
  })
  it('chapters start where the scenes before them end', () => {
    const marks = chapters([s(1, 1, { duration_s: 1.5 }), s(2, 2, { duration_s: 2 }), s(3, 3)])
    expect(marks.map((m) => m.start)).toEqual([0, 1.5, 3.5])
  })
})
