/** Pixel's parameters as an editable form. The server sends the plan's JSON schema with the session
 * (`plan_schema`: the target's fields, enums and bounds — a shot's fields, or an image's prompt,
 * size, steps, cfg and count); each parameter gets its control from it (choice, whole number,
 * number, long or short text, switch, list), the form's text turns back into typed values, and
 * the bounds are checked inline before anything is sent. The server validates again and its
 * message shows next to the same field. Without a schema the value's own type decides. */
import type { PlanParams } from './api'

export type FieldKind = 'text' | 'longtext' | 'number' | 'integer' | 'boolean' | 'list' | 'choice' | 'json'

export interface PlanField {
  key: string
  label: string
  kind: FieldKind
  min?: number
  max?: number
  maxLength?: number
  options?: string[]
}

type Schema = Record<string, unknown>
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)

export function label(key: string): string {
  const text = key.replace(/_s$/, ' (s)').replace(/_/g, ' ')
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The property's schema without its `| null` branch (`anyOf: [X, {type: null}]` -> X). */
function own(schema: unknown): Schema {
  if (!isObject(schema)) return {}
  const branches = (schema.anyOf ?? schema.oneOf) as unknown
  if (Array.isArray(branches)) {
    const real = branches.find((b) => isObject(b) && b.type !== 'null')
    return { ...schema, ...(isObject(real) ? real : {}) }
  }
  return schema
}

function fromSchema(key: string, property: Schema): PlanField | null {
  const base = { key, label: label(key) } // pydantic's titles read 'Duration S'
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined)
  if (Array.isArray(property.enum)) return { ...base, kind: 'choice', options: property.enum.map(String) }
  switch (property.type) {
    case 'integer':
    case 'number':
      return {
        ...base,
        kind: property.type,
        min: num(property.minimum) ?? num(property.exclusiveMinimum),
        max: num(property.maximum) ?? num(property.exclusiveMaximum),
      }
    case 'boolean':
      return { ...base, kind: 'boolean' }
    case 'array':
      return { ...base, kind: 'list' }
    case 'string': {
      const maxLength = num(property.maxLength)
      return { ...base, kind: /prompt|negative/.test(key) || (maxLength ?? 0) > 300 ? 'longtext' : 'text', maxLength }
    }
    default:
      return null
  }
}

function fromValue(key: string, value: unknown): PlanField {
  const base = { key, label: label(key) }
  if (typeof value === 'boolean') return { ...base, kind: 'boolean' }
  if (typeof value === 'number') return { ...base, kind: Number.isInteger(value) ? 'integer' : 'number' }
  if (typeof value === 'string')
    return { ...base, kind: /prompt|negative/.test(key) || value.length > 80 ? 'longtext' : 'text' }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return { ...base, kind: 'list' }
  if (value === null) return { ...base, kind: 'text' }
  return { ...base, kind: 'json' }
}

/** The form's fields: the schema's properties in its order (the plan's own keys without one). */
export function fieldsOf(params: PlanParams, schema?: Schema | null): PlanField[] {
  const properties = isObject(schema?.properties) ? (schema.properties as Schema) : null
  const keys = properties ? [...new Set([...Object.keys(properties), ...Object.keys(params)])] : Object.keys(params)
  return keys.map((key) => (properties && fromSchema(key, own(properties[key]))) || fromValue(key, params[key]))
}

export type Draft = Record<string, string | boolean>

/** The form's values: numbers and lists as the text the user edits. */
export function toDraft(params: PlanParams, fields: PlanField[]): Draft {
  const draft: Draft = {}
  for (const f of fields) {
    const v = params[f.key]
    if (f.kind === 'boolean') draft[f.key] = v === true
    else if (f.kind === 'list') draft[f.key] = Array.isArray(v) ? v.join(', ') : ''
    else if (f.kind === 'json') draft[f.key] = JSON.stringify(v ?? null)
    else draft[f.key] = v === null || v === undefined ? '' : String(v)
  }
  return draft
}

export interface Parsed {
  params: PlanParams
  errors: Record<string, string>
}

/** Back to typed parameters; `errors[key]` says what is wrong with a field (nothing is sent then). */
export function fromDraft(draft: Draft, fields: PlanField[]): Parsed {
  const params: PlanParams = {}
  const errors: Record<string, string> = {}
  for (const f of fields) {
    const raw = draft[f.key]
    if (f.kind === 'boolean') {
      params[f.key] = raw === true
      continue
    }
    const text = String(raw ?? '').trim()
    if (f.kind === 'integer' || f.kind === 'number') {
      if (text === '') {
        params[f.key] = null
        continue
      }
      const n = Number(text)
      if (!Number.isFinite(n)) errors[f.key] = 'Enter a number'
      else if (f.kind === 'integer' && !Number.isInteger(n)) errors[f.key] = 'Enter a whole number'
      else if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max))
        errors[f.key] =
          f.min !== undefined && f.max !== undefined
            ? `Between ${f.min} and ${f.max}`
            : f.min !== undefined
              ? `At least ${f.min}`
              : `At most ${f.max}`
      params[f.key] = n
    } else if (f.kind === 'list') {
      params[f.key] = text
        ? text
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : []
    } else if (f.kind === 'json') {
      try {
        params[f.key] = JSON.parse(text || 'null')
      } catch {
        errors[f.key] = 'Not valid JSON'
      }
    } else if (f.kind === 'choice') {
      if (!f.options?.includes(text)) errors[f.key] = `One of ${f.options?.join(', ')}`
      params[f.key] = text
    } else {
      if (f.maxLength !== undefined && text.length > f.maxLength) errors[f.key] = `At most ${f.maxLength} characters`
      params[f.key] = text
    }
  }
  return { params, errors }
}
