import { describe, expect, it } from 'vitest'
import { isValidSlug, suggestSlug } from './slug'

describe('suggestSlug', () => {
  it('lowercases and joins words with dashes', () => {
    expect(suggestSlug('Aiko Tanaka')).toBe('aiko-tanaka')
  })

  it('drops accents, apostrophes and punctuation', () => {
    expect(suggestSlug("Kaitō's Dragon (NOT human)!")).toBe('kaitos-dragon-not-human')
  })

  it('never starts or ends with a dash and collapses runs', () => {
    expect(suggestSlug('  --Ember -- the  Red-- ')).toBe('ember-the-red')
  })

  it('keeps within the 63-character limit without a trailing dash', () => {
    const slug = suggestSlug('a'.repeat(62) + ' b c')
    expect(slug.length).toBeLessThanOrEqual(63)
    expect(slug.endsWith('-')).toBe(false)
    expect(isValidSlug(slug)).toBe(true)
  })

  it('gives an empty (invalid) slug for a name with no usable letters', () => {
    expect(suggestSlug('龍')).toBe('')
    expect(isValidSlug('')).toBe(false)
  })

  it('produces slugs the server accepts', () => {
    for (const name of ['Mio Sakura', 'Old Kenji 2', 'X Æ A-12', 'Ünïcödé Spirit']) {
      expect(isValidSlug(suggestSlug(name))).toBe(true)
    }
  })
})
