/** Server errors are `{detail, code, field?, errors?: [{loc, msg, type}]}`. This maps them onto
 * form fields so each message shows next to the control it is about. */

export interface ErrorItem {
  loc: (string | number)[]
  msg: string
  type?: string
}

export interface ErrorBody {
  detail: string
  code: string
  field?: string | null
  errors?: ErrorItem[]
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly body: ErrorBody

  constructor(status: number, body: Partial<ErrorBody> | undefined | null) {
    const detail = typeof body?.detail === 'string' ? body.detail : `Request failed (${status})`
    super(detail)
    this.name = 'ApiError'
    this.status = status
    this.code = body?.code ?? (status === 0 ? 'network_error' : 'http_error')
    this.body = { detail, code: this.code, field: body?.field ?? null, errors: body?.errors }
  }
}

/** ["body", "appearance_data", "species"] -> "appearance_data.species"; ["body"] -> "". */
export function locToField(loc: (string | number)[]): string {
  const parts = loc.length && ['body', 'query', 'path'].includes(String(loc[0])) ? loc.slice(1) : loc
  return parts.map(String).join('.')
}

export interface MappedErrors {
  /** field key (dotted path) -> message */
  fields: Record<string, string>
  /** messages that belong to no known field, for the form's top line */
  general: string[]
}

/**
 * @param known the field keys the form renders; messages for other keys go to `general`.
 *   A nested key ("arcs.0.title") also matches a known prefix ("arcs").
 */
export function mapErrors(err: unknown, known: readonly string[] = []): MappedErrors {
  const out: MappedErrors = { fields: {}, general: [] }
  if (!(err instanceof ApiError)) {
    out.general.push(err instanceof Error ? err.message : String(err))
    return out
  }
  const place = (key: string, msg: string) => {
    const target = known.includes(key) ? key : known.find((k) => key.startsWith(k + '.'))
    if (target !== undefined && key !== '') {
      if (!out.fields[target]) out.fields[target] = msg
    } else if (!out.general.includes(msg)) {
      out.general.push(key ? `${key}: ${msg}` : msg)
    }
  }
  const items = err.body.errors ?? []
  for (const item of items) place(locToField(item.loc ?? []), item.msg)
  if (items.length === 0) {
    if (err.body.field) place(err.body.field, err.body.detail)
    else out.general.push(err.body.detail)
  }
  return out
}
