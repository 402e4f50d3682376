/** The Train form's values and the request body they make (pure: unit-tested). */
import type { Precision, TrainingRunCreate } from './api'
import { parseRate, type PresetValues } from './presets'

/** The main fields as the inputs hold them (the learning rate as typed: "1e-4"). */
export type MainValues = Omit<PresetValues, 'learning_rate'> & { learning_rate: string | number }

/** The Advanced section; number inputs hold '' when emptied. */
export interface AdvancedValues {
  max_steps: number | string
  batch_size: number | string
  precision: Precision
  seed: number | string
  sample_every: number | string
  trigger: string
  train_text_encoder: boolean
}

export const ADVANCED_FIELDS = [
  'max_steps',
  'batch_size',
  'precision',
  'seed',
  'sample_every',
  'trigger',
  'train_text_encoder',
] as const

export const defaultAdvanced = (): AdvancedValues => ({
  max_steps: '',
  batch_size: 1,
  precision: 'fp32',
  seed: '',
  sample_every: 0,
  trigger: '',
  train_text_encoder: false,
})

const optionalInt = (v: number | string) => (String(v).trim() === '' ? null : Number(v))

/** The POST /training/runs body, or the one field the browser can already tell is wrong (the
 * learning rate must be a number; every other rule is the server's, shown next to its field). */
export function runBody(
  characterId: number,
  baseModel: string,
  main: MainValues,
  advanced: AdvancedValues,
): { body: TrainingRunCreate } | { field: 'learning_rate'; message: string } {
  const rate = parseRate(main.learning_rate)
  if (!Number.isFinite(rate)) return { field: 'learning_rate', message: 'Enter a number such as 1e-4 or 0.0001' }
  return {
    body: {
      character_id: characterId,
      base_model: baseModel,
      rank: Number(main.rank),
      alpha: Number(main.alpha),
      learning_rate: rate,
      epochs: Number(main.epochs),
      resolution: Number(main.resolution),
      max_steps: optionalInt(advanced.max_steps),
      batch_size: Number(advanced.batch_size),
      precision: advanced.precision,
      seed: optionalInt(advanced.seed),
      sample_every: optionalInt(advanced.sample_every) ?? 0,
      trigger: advanced.trigger.trim() || null,
      train_text_encoder: advanced.train_text_encoder,
    },
  }
}
