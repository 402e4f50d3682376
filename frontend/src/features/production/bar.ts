/** The spend-vs-budget bar's segments, as shares of the bar (0..1): spent, committed (admitted and
 * running) and queued (forecast), scaled so that the larger of the limit and the forecast fills it. */
export interface BarInput {
  limit: number | null
  spent: number
  committed: number
  queued: number
}

export interface BarSegments {
  spent: number
  committed: number
  queued: number
  limitAt: number | null // where the limit's mark sits, when there is a limit
  tone: 'ok' | 'warn' | 'over'
  overBy: number // how far the forecast passes the limit (0 when within)
}

export function barSegments({ limit, spent, committed, queued }: BarInput, warnAt = 0.8): BarSegments {
  const forecast = spent + committed + queued
  const scale = Math.max(limit ?? 0, forecast, 1e-9)
  const share = (x: number) => Math.max(0, x) / scale
  const used = spent + committed
  let tone: BarSegments['tone'] = 'ok'
  if (limit !== null && (used > limit || forecast > limit)) tone = used > limit ? 'over' : 'warn'
  else if (limit !== null && used >= warnAt * limit) tone = 'warn'
  return {
    spent: share(spent),
    committed: share(committed),
    queued: share(queued),
    limitAt: limit === null ? null : share(limit),
    tone,
    overBy: limit === null ? 0 : Math.max(0, forecast - limit),
  }
}

export function formatAmount(unit: 'gpu_seconds' | 'money', amount: number): string {
  if (unit === 'money') return amount.toFixed(2)
  if (amount >= 3600) return `${(amount / 3600).toFixed(1)} GPU-h`
  if (amount >= 60) return `${(amount / 60).toFixed(1)} GPU-min`
  return `${Math.round(amount)} GPU-s`
}
