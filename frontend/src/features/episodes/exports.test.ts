import { describe, expect, it } from 'vitest'
import { exportUrl, versioned } from './exports'

const BASE = 'http://h/studio/api/lora'

describe('episode downloads', () => {
  it('asks the export endpoint for the format and the kind of media paths', () => {
    expect(exportUrl(4, 'edl', 'relative', BASE)).toBe(`${BASE}/episodes/4/export?format=edl&paths=relative`)
    expect(exportUrl(4, 'fcpxml', 'absolute', BASE)).toBe(`${BASE}/episodes/4/export?format=fcpxml&paths=absolute`)
  })
  it('the video address changes with each assembly only, so the player never shows a stale one', () => {
    const a = versioned('episodes/4/video', 0, BASE)
    expect(a).toBe(`${BASE}/episodes/4/video?v=0`)
    expect(versioned('episodes/4/video', 1, BASE)).not.toBe(a)
    expect(versioned(null, 0, BASE)).toBeNull()
  })
})
