/** The loss chart's arithmetic: EMA smoothing, nice axis ticks, linear scales, decimation and the
 * nearest point under the pointer. Pure, so it is unit-tested without a DOM. */

export interface LossPoint {
  step: number
  loss: number
}

/** TensorBoard-style smoothing: an exponential moving average with weight `w` (0 = raw, 0.99 =
 * very smooth), debiased so the first points are not pulled towards zero. Non-finite losses (a
 * diverged step) are skipped rather than poisoning everything after them. */
export function ema(points: readonly LossPoint[], w: number): LossPoint[] {
  const weight = Math.min(Math.max(w, 0), 0.999)
  const out: LossPoint[] = []
  let last = 0
  let n = 0
  for (const p of points) {
    if (!Number.isFinite(p.loss)) continue
    last = last * weight + (1 - weight) * p.loss
    n++
    const debias = weight === 0 ? 1 : 1 - Math.pow(weight, n)
    out.push({ step: p.step, loss: last / debias })
  }
  return out
}

/** About `count` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten), at
 * least `minStep` apart (1 for step counts: no "1, 1, 2" under a short run). */
export function niceTicks(lo: number, hi: number, count = 5, minStep = 0): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return []
  if (hi < lo) [lo, hi] = [hi, lo]
  if (hi === lo) return [lo]
  const raw = (hi - lo) / Math.max(count, 1)
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const step = Math.max(([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag, minStep)
  const first = Math.ceil(lo / step - 1e-9) * step
  const ticks: number[] = []
  for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

/** The y range of a loss series with a little headroom; a flat series still gets a range. */
export function lossDomain(points: readonly LossPoint[]): [number, number] {
  const finite = points.map((p) => p.loss).filter(Number.isFinite)
  if (!finite.length) return [0, 1]
  let lo = Math.min(...finite)
  let hi = Math.max(...finite)
  if (hi - lo < 1e-9) {
    const pad = Math.abs(hi) * 0.1 || 0.1
    return [lo - pad, hi + pad]
  }
  const pad = (hi - lo) * 0.06
  lo = lo - pad
  hi = hi + pad
  // losses are non-negative: do not draw a range below zero that no point can reach
  return [finite.every((v) => v >= 0) ? Math.max(0, lo) : lo, hi]
}

/** A linear map from [d0, d1] onto [r0, r1]. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1
  return (v) => r0 + ((v - d0) / span) * (r1 - r0)
}

/** At most `max` points, evenly picked, keeping the first and last (a long run draws fast). */
export function decimate<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max || max < 2) return points.slice()
  const out: T[] = []
  const stride = (points.length - 1) / (max - 1)
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * stride)]!)
  return out
}

/** Index of the point whose step is nearest to `step` (points sorted by step); -1 when empty. */
export function nearestIndex(points: readonly LossPoint[], step: number): number {
  if (!points.length) return -1
  let lo = 0
  let hi = points.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (points[mid]!.step <= step) lo = mid
    else hi = mid
  }
  return Math.abs(points[hi]!.step - step) < Math.abs(points[lo]!.step - step) ? hi : lo
}

/** SVG polyline points ("x,y x,y ...") of a series under two scales. */
export function polyline(points: readonly LossPoint[], x: (v: number) => number, y: (v: number) => number): string {
  return points
    .filter((p) => Number.isFinite(p.loss))
    .map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`)
    .join(' ')
}

/** Loss values for axis labels and the readout: 4 significant digits, no exponent for common sizes. */
export function formatLoss(v: number): string {
  if (!Number.isFinite(v)) return '—'
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2)
  return String(Number(v.toPrecision(4)))
}

/** Step counts on the x axis: 1200 → "1.2k". */
export function formatStep(v: number): string {
  if (Math.abs(v) >= 10000) return `${Number((v / 1000).toPrecision(3))}k`
  return String(Math.round(v))
}
