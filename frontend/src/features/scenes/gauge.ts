/** A shot's quality score against its gate, as the monitor's small gauge draws it. */

export interface GaugeInput {
  quality_score: number | null
  threshold: number | null
  gate_passed: boolean | null
}

export interface Gauge {
  /** 0..100, the bar's fill; 0 without a score */
  fill: number
  /** 0..100, where the threshold mark sits; null without a threshold */
  mark: number | null
  /** approved (passed), failed (below the gate), pending (not scored yet) */
  tone: 'approved' | 'failed' | 'pending'
  /** "0.72 / 0.60", "— / 0.45" */
  label: string
  /** a sentence for screen readers */
  description: string
}

const pct = (v: number) => Math.round(Math.min(Math.max(v, 0), 1) * 100)
const two = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(2))

export function gauge(shot: GaugeInput): Gauge {
  const score = shot.quality_score !== null && Number.isFinite(shot.quality_score) ? shot.quality_score : null
  const threshold = shot.threshold !== null && Number.isFinite(shot.threshold) ? shot.threshold : null
  // the server's verdict wins; without one, compare (a score without a gate says nothing)
  const passed = shot.gate_passed ?? (score !== null && threshold !== null ? score >= threshold : null)
  const tone = score === null || passed === null ? 'pending' : passed ? 'approved' : 'failed'
  const label = `${two(score)} / ${two(threshold)}`
  const description =
    score === null
      ? threshold === null
        ? 'Not scored yet'
        : `Not scored yet; the gate is ${two(threshold)}`
      : `Score ${two(score)} against a gate of ${two(threshold)}: ${
          passed === null ? 'no verdict' : passed ? 'passed' : 'below the gate'
        }`
  return {
    fill: score === null ? 0 : pct(score),
    mark: threshold === null ? null : pct(threshold),
    tone,
    label,
    description,
  }
}
