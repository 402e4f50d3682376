import { describe, expect, it } from 'vitest'
import { percent, qualityTone, readScores } from './scores'

describe('readScores', () => {
  it('reads a vision review: 0-10 bars, quality 0..1, checks and warnings in order', () => {
    const r = readScores({
      reviewer: 'vision',
      model: 'gemma3:12b',
      quality: 0.7,
      character_match: 8,
      clarity: 7,
      training_value: 12, // out of range: clamped, never a bar past its end
      solo: false,
      completeness: 'upper',
      anatomical_defects: ['extra finger'],
      common_error_hits: ['blue scarf'],
      issues: ['busy background', ''],
      species_match: true,
      caption: ' 1girl, red scarf ',
    })
    expect(r.kind).toBe('vision')
    if (r.kind !== 'vision') return
    expect(r.model).toBe('gemma3:12b')
    expect(r.bars.map((b) => [b.key, b.value, b.max])).toEqual([
      ['character_match', 8, 10],
      ['clarity', 7, 10],
      ['training_value', 10, 10],
    ])
    expect(r.solo).toBe(false)
    expect(r.speciesMatch).toBe(true)
    expect(r.genderMatch).toBeNull()
    expect(r.warnings).toEqual([
      { kind: 'defect', text: 'extra finger' },
      { kind: 'common-error', text: 'blue scarf' },
      { kind: 'issue', text: 'busy background' },
    ])
    expect(r.caption).toBe('1girl, red scarf')
  })

  it('tells a metrics-only review apart, with its four measures as 0..1 bars', () => {
    const r = readScores({
      metrics_only: true,
      quality: 0.35,
      sharpness: 0.2,
      exposure: 0.9,
      contrast: 0.5,
      resolution: 1,
    })
    expect(r.kind).toBe('metrics')
    if (r.kind !== 'metrics') return
    expect(r.quality).toBe(0.35)
    expect(r.bars.map((b) => b.key)).toEqual(['sharpness', 'exposure', 'contrast', 'resolution'])
    expect(r.bars.every((b) => b.max === 1)).toBe(true)
  })

  it('shows a vision error rather than scores', () => {
    expect(readScores({ vision_error: 'model answered garbage' })).toEqual({
      kind: 'error',
      error: 'model answered garbage',
    })
  })

  it('says "none" for no scores at all', () => {
    expect(readScores(null)).toEqual({ kind: 'none' })
    expect(readScores({})).toEqual({ kind: 'none' })
  })
})

describe('quality formatting', () => {
  it('gives percent and the gate colours (auto_reject 0.4, auto_approve 0.8)', () => {
    expect(percent(0.724)).toBe('72%')
    expect(percent(null)).toBe('—')
    expect(qualityTone(0.8)).toBe('approved')
    expect(qualityTone(0.5)).toBe('pending')
    expect(qualityTone(0.39)).toBe('rejected')
    expect(qualityTone(null)).toBe('animatic')
  })
})
