import { describe, expect, it } from 'vitest'
import { fieldsOf, fromDraft, toDraft } from './plan'

/** What GET /team/sessions/{id} sends as `plan_schema` for a shot (pydantic's JSON schema). */
const SHOT_SCHEMA = {
  type: 'object',
  properties: {
    shot_type: { enum: ['establishing', 'wide', 'medium', 'close-up', 'extreme-close-up', 'action'], type: 'string' },
    camera_angle: { type: 'string', maxLength: 200 },
    duration_s: { type: 'number', minimum: 1, maximum: 10 },
    prompt: { type: 'string', minLength: 1, maxLength: 2000 },
    negative_prompt: { type: 'string', maxLength: 2000 },
    motion_prompt: { type: 'string', maxLength: 1000 },
    transition: { enum: ['dissolve', 'fade', 'wipe', 'cut'], type: 'string' },
  },
}
const SHOT = {
  shot_type: 'medium',
  camera_angle: 'low angle',
  duration_s: 3,
  prompt: 'aiko in the rain',
  negative_prompt: '',
  motion_prompt: 'slow push in',
  transition: 'dissolve',
}
const IMAGE_SCHEMA = {
  properties: {
    prompt: { type: 'string', maxLength: 2000 },
    size: { enum: ['832x1216', '1216x832', '1024x1024'], type: 'string' },
    steps: { anyOf: [{ type: 'integer', minimum: 1, maximum: 150 }, { type: 'null' }] },
    cfg: { type: 'number', minimum: 0, maximum: 30 },
    count: { type: 'integer', minimum: 1, maximum: 4 },
  },
}

describe('plan form', () => {
  it('gives each parameter its control from the plan schema and round-trips unchanged values', () => {
    /** Editing nothing sends back exactly the parameters Pixel proposed. */
    const fields = fieldsOf(SHOT, SHOT_SCHEMA)
    expect(Object.fromEntries(fields.map((f) => [f.key, f.kind]))).toEqual({
      shot_type: 'choice',
      camera_angle: 'text',
      duration_s: 'number',
      prompt: 'longtext',
      negative_prompt: 'longtext',
      motion_prompt: 'longtext',
      transition: 'choice',
    })
    expect(fromDraft(toDraft(SHOT, fields), fields)).toEqual({ params: SHOT, errors: {} })
  })

  it('reports values outside the schema inline, with the bound', () => {
    /** A length, a step count, a size or a transition the server would refuse is caught next to
     * its field before anything is sent. */
    const image = { prompt: 'x', size: '1024x1024', steps: 28, cfg: 6.5, count: 2 }
    const fields = fieldsOf(image, IMAGE_SCHEMA)
    expect(fields.find((f) => f.key === 'steps')).toMatchObject({ kind: 'integer', min: 1, max: 150 })
    const draft = { ...toDraft(image, fields), steps: '2.5', cfg: 'abc', count: '9', size: '640x640' }
    expect(fromDraft(draft, fields).errors).toEqual({
      steps: 'Enter a whole number',
      cfg: 'Enter a number',
      count: 'Between 1 and 4',
      size: 'One of 832x1216, 1216x832, 1024x1024',
    })
    const shotFields = fieldsOf(SHOT, SHOT_SCHEMA)
    expect(fromDraft({ ...toDraft(SHOT, shotFields), duration_s: '30' }, shotFields).errors).toEqual({
      duration_s: 'Between 1 and 10',
    })
  })

  it('falls back to the values’ own types without a schema', () => {
    /** A list typed with commas becomes a list; a number typed as text becomes a number. */
    const params = { loras: ['a'], seed: 1, hires: false, note: 'x' }
    const fields = fieldsOf(params)
    expect(fields.map((f) => f.kind)).toEqual(['list', 'integer', 'boolean', 'text'])
    const out = fromDraft({ ...toDraft(params, fields), loras: 'a, b ,', seed: '42', hires: true }, fields)
    expect(out).toEqual({ params: { loras: ['a', 'b'], seed: 42, hires: true, note: 'x' }, errors: {} })
  })
})
