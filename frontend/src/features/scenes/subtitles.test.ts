import { describe, expect, it } from 'vitest'
import { cues, toVtt, vttTime } from './subtitles'

const shot = (duration_s: number, dialogue_text = '', dialogue_character_id: number | null = null) => ({
  duration_s,
  transition: 'dissolve',
  transition_s: 0.3,
  dialogue_text,
  dialogue_character_id,
})
const names: Record<number, string> = { 7: 'Aiko' }

describe('cues', () => {
  it("places each line at its shot's start on the timeline, named after its speaker", () => {
    const list = cues([shot(3, 'Hello.', 7), shot(3), shot(2, ' Run! ')], (id) => names[id])
    expect(list).toHaveLength(2)
    expect(list[0]).toEqual({ start: 0, end: 3, text: 'Aiko: Hello.' })
    expect(list[1]!.start).toBeCloseTo(5.4) // 3 + 3 - 0.3 - 0.3
    expect(list[1]!.end).toBeCloseTo(7.4) // the scene's end
    expect(list[1]!.text).toBe('Run!')
  })
})

describe('toVtt', () => {
  it('writes WebVTT with escaped text', () => {
    expect(vttTime(65.5)).toBe('00:01:05.500')
    const vtt = toVtt([{ start: 0, end: 1.25, text: 'a <b> & c --> d' }])
    expect(vtt).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:01.250\na &lt;b> &amp; c → d\n')
  })
})
