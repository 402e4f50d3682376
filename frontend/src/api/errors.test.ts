import { describe, expect, it } from 'vitest'
import { ApiError, locToField, mapErrors } from './errors'

describe('locToField', () => {
  it('drops the body/query/path root and joins the rest', () => {
    expect(locToField(['body', 'slug'])).toBe('slug')
    expect(locToField(['body', 'appearance_data', 'species'])).toBe('appearance_data.species')
    expect(locToField(['body', 'arcs', 0, 'title'])).toBe('arcs.0.title')
    expect(locToField(['body'])).toBe('')
  })
})

describe('mapErrors', () => {
  it('puts each 422 item next to the field its loc names', () => {
    const err = new ApiError(422, {
      detail: 'slug: String should match pattern',
      code: 'validation_error',
      field: 'slug',
      errors: [
        {
          loc: ['body', 'slug'],
          msg: "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'",
          type: 'string_pattern_mismatch',
        },
        { loc: ['body', 'cfg'], msg: 'Input should be less than or equal to 30', type: 'less_than_equal' },
      ],
    })
    const mapped = mapErrors(err, ['name', 'slug', 'cfg'])
    expect(mapped.fields.slug).toMatch(/pattern/)
    expect(mapped.fields.cfg).toBe('Input should be less than or equal to 30')
    expect(mapped.general).toEqual([])
  })

  it('uses `field` and `detail` for a domain error such as slug_taken', () => {
    const err = new ApiError(409, {
      detail: 'A character called ember already exists',
      code: 'slug_taken',
      field: 'slug',
    })
    expect(mapErrors(err, ['name', 'slug']).fields).toEqual({ slug: 'A character called ember already exists' })
  })

  it('maps nested locations onto a known parent field', () => {
    const err = new ApiError(422, {
      detail: 'x',
      code: 'validation_error',
      errors: [{ loc: ['body', 'palettes', 0, 'colors', 1], msg: 'Not a #rrggbb colour' }],
    })
    expect(mapErrors(err, ['palettes']).fields).toEqual({ palettes: 'Not a #rrggbb colour' })
  })

  it('keeps messages for unknown fields in the general list, prefixed with the field', () => {
    const err = new ApiError(422, {
      detail: 'x',
      code: 'validation_error',
      errors: [{ loc: ['body', 'project_id'], msg: 'Field required' }],
    })
    expect(mapErrors(err, ['name'])).toEqual({ fields: {}, general: ['project_id: Field required'] })
  })

  it('shows the detail of an error with no field', () => {
    const err = new ApiError(409, { detail: 'The project has no default style', code: 'no_style' })
    expect(mapErrors(err, ['name'])).toEqual({ fields: {}, general: ['The project has no default style'] })
  })

  it('copes with a non-JSON error body and plain exceptions', () => {
    expect(new ApiError(502, null).message).toBe('Request failed (502)')
    expect(mapErrors(new Error('offline')).general).toEqual(['offline'])
  })
})
