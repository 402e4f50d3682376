import { describe, expect, it } from 'vitest'
import { dayStart, readQuery, toApiFilters, writeQuery } from './filters'

describe('gallery filters in the address bar', () => {
  it('reads known values and drops the rest', () => {
    expect(
      readQuery({ kind: 'video', status: 'weird', since: '2026-03-01', until: 'yesterday', character: 'ember' }),
    ).toEqual({
      character: 'ember',
      kind: 'video',
      status: null,
      since: '2026-03-01',
      until: null,
    })
  })
  it('writes only what is set', () => {
    expect(writeQuery({ character: null, kind: 'image', status: null, since: null, until: null })).toEqual({
      kind: 'image',
    })
  })
  it('makes the last day of a range inclusive', () => {
    const f = toApiFilters({ character: null, kind: null, status: null, since: '2026-03-01', until: '2026-03-02' }, 4)
    expect(f.characterId).toBe(4)
    expect(f.since).toBe(dayStart('2026-03-01'))
    expect(f.until).toBe(dayStart('2026-03-03'))
    expect(Date.parse(f.until!) - Date.parse(f.since!)).toBeGreaterThanOrEqual(47 * 3600 * 1000)
  })
})
