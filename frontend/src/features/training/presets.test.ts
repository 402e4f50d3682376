import { describe, expect, it } from 'vitest'
import { PRESETS, describeParams, formatRate, matchPreset, parseRate, presetValues } from './presets'

describe('presets', () => {
  it('Balanced is the API defaults (rank 16, alpha 16, lr 1e-4, 10 epochs) at 512 px for SD 1.5', () => {
    expect(presetValues('balanced', 'sd15')).toEqual({
      rank: 16,
      alpha: 16,
      learning_rate: 1e-4,
      epochs: 10,
      resolution: 512,
    })
  })

  it('follow the architecture: SDXL trains at 1024 px, its quick test at 768', () => {
    expect(presetValues('balanced', 'sdxl').resolution).toBe(1024)
    expect(presetValues('quality', 'sdxl').resolution).toBe(1024)
    expect(presetValues('quick', 'sdxl').resolution).toBe(768)
    expect(presetValues('quick', null).resolution).toBe(512)
  })

  it('go from quick to thorough: more epochs and rank, a slower rate', () => {
    const [quick, balanced, quality] = PRESETS.map((p) => presetValues(p.name, 'sd15'))
    expect(quick!.epochs).toBeLessThan(balanced!.epochs)
    expect(balanced!.epochs).toBeLessThan(quality!.epochs)
    expect(quick!.rank).toBeLessThan(quality!.rank)
    expect(quality!.learning_rate).toBeLessThan(quick!.learning_rate)
  })

  it('a form holding a preset is recognised; one changed field makes it Custom', () => {
    for (const p of PRESETS) expect(matchPreset(presetValues(p.name, 'sdxl'), 'sdxl')).toBe(p.name)
    expect(matchPreset({ ...presetValues('balanced', 'sd15'), epochs: 11 }, 'sd15')).toBeNull()
    // the SD 1.5 numbers are not the SDXL preset (resolution differs)
    expect(matchPreset(presetValues('balanced', 'sd15'), 'sdxl')).toBeNull()
  })
})

describe('learning rates', () => {
  it('are written the way people write them', () => {
    expect(formatRate(1e-4)).toBe('1e-4')
    expect(formatRate(0.00005)).toBe('5e-5')
    expect(formatRate(2.5e-4)).toBe('2.5e-4')
  })

  it('parse from either notation; anything else is NaN', () => {
    expect(parseRate('1e-4')).toBe(1e-4)
    expect(parseRate(' 0.0001 ')).toBe(1e-4)
    expect(parseRate('5E-5')).toBe(5e-5)
    expect(parseRate('fast')).toBeNaN()
    expect(parseRate('-1e-4')).toBeNaN()
    expect(parseRate('')).toBeNaN()
  })
})

it('describeParams sums a run up in one line', () => {
  expect(
    describeParams({ rank: 16, alpha: 8, learning_rate: 1e-4, epochs: 10, resolution: 512, precision: 'fp32' }),
  ).toBe('rank 16 · α 8 · lr 1e-4 · 10 epochs · 512 px')
  expect(
    describeParams({ rank: 4, alpha: 4, epochs: 1, max_steps: 30, train_text_encoder: true, precision: 'bf16' }),
  ).toBe('rank 4 · α 4 · 30 steps · + text encoder · bf16')
})
