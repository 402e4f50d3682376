/** Training presets: the numbers a preset fills into the form (rank, alpha, learning rate, epochs,
 * resolution), sized for the base model's architecture. */

export type PresetName = 'quick' | 'balanced' | 'quality'
export type Architecture = 'sd15' | 'sdxl' | string

export interface PresetValues {
  rank: number
  alpha: number
  learning_rate: number
  epochs: number
  resolution: number
}

export interface Preset {
  name: PresetName
  label: string
  hint: string
}

export const PRESETS: readonly Preset[] = [
  { name: 'quick', label: 'Quick test', hint: 'A few minutes: checks the data set and the settings end to end' },
  { name: 'balanced', label: 'Balanced', hint: 'A good first LoRA for a character' },
  { name: 'quality', label: 'High quality', hint: 'More capacity and a slower learning rate; takes longest' },
]

/** The native training resolution of an architecture (SDXL was trained at 1024, SD1.5 at 512). */
export const nativeResolution = (architecture: Architecture | null | undefined) =>
  architecture === 'sdxl' ? 1024 : 512

export function presetValues(name: PresetName, architecture: Architecture | null | undefined): PresetValues {
  const native = nativeResolution(architecture)
  switch (name) {
    case 'quick':
      // a lower resolution and few epochs: minutes, not hours; the higher rate makes it show anyway
      return { rank: 8, alpha: 8, learning_rate: 2e-4, epochs: 2, resolution: native === 1024 ? 768 : 512 }
    case 'balanced':
      return { rank: 16, alpha: 16, learning_rate: 1e-4, epochs: 10, resolution: native }
    case 'quality':
      // alpha = rank / 2 keeps the update scale calm at the higher rank
      return { rank: 32, alpha: 16, learning_rate: 5e-5, epochs: 20, resolution: native }
  }
}

const same = (a: number, b: number) => Math.abs(a - b) <= Math.abs(b) * 1e-9

/** The preset whose numbers the form holds now, or null ("Custom") once one is changed by hand. */
export function matchPreset(values: PresetValues, architecture: Architecture | null | undefined): PresetName | null {
  for (const p of PRESETS) {
    const v = presetValues(p.name, architecture)
    const keys = Object.keys(v) as (keyof PresetValues)[]
    if (keys.every((k) => same(Number(values[k]), v[k]))) return p.name
  }
  return null
}

/** Learning rates as people write them: 0.0001 → "1e-4", 0.00005 → "5e-5", 0.001 → "1e-3". */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return ''
  if (rate === 0) return '0'
  const [mantissa, exponent] = rate.toExponential().split('e')
  return `${Number(Number(mantissa).toPrecision(6))}e${Number(exponent)}`
}

/** "1e-4", "0.0001", "1E-4", " 2e-4 " → the number; anything else → NaN (the server names the field). */
export function parseRate(text: string | number): number {
  if (typeof text === 'number') return text
  const t = text.trim()
  return /^[+]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : Number.NaN
}

/** A run's parameters in one line: "rank 16 · α 16 · lr 1e-4 · 10 epochs · 512 px". */
export function describeParams(params: Record<string, unknown>): string {
  const n = (k: string) => (typeof params[k] === 'number' ? (params[k] as number) : null)
  const parts: string[] = []
  if (n('rank') !== null) parts.push(`rank ${n('rank')}`)
  if (n('alpha') !== null) parts.push(`α ${n('alpha')}`)
  if (n('learning_rate') !== null) parts.push(`lr ${formatRate(n('learning_rate')!)}`)
  if (n('max_steps')) parts.push(`${n('max_steps')} steps`)
  else if (n('epochs') !== null) parts.push(`${n('epochs')} epoch${n('epochs') === 1 ? '' : 's'}`)
  if (n('resolution') !== null) parts.push(`${n('resolution')} px`)
  if (params.train_text_encoder === true) parts.push('+ text encoder')
  if (typeof params.precision === 'string' && params.precision !== 'fp32') parts.push(params.precision)
  return parts.join(' · ')
}
