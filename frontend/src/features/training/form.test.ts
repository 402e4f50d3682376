import { describe, expect, it } from 'vitest'
import { defaultAdvanced, runBody } from './form'

const main = { rank: 16, alpha: 16, learning_rate: '1e-4', epochs: 10, resolution: 512 }

describe('runBody', () => {
  it('sends the form as the API expects: numbers, nulls for blanks, no samples by default', () => {
    const made = runBody(3, 'models/tiny-sd', main, defaultAdvanced())
    expect(made).toEqual({
      body: {
        character_id: 3,
        base_model: 'models/tiny-sd',
        rank: 16,
        alpha: 16,
        learning_rate: 1e-4,
        epochs: 10,
        resolution: 512,
        max_steps: null,
        batch_size: 1,
        precision: 'fp32',
        seed: null,
        sample_every: 0,
        trigger: null,
        train_text_encoder: false,
      },
    })
  })

  it('keeps what the Advanced section says (a blank sample field is 0, a trigger is trimmed)', () => {
    const advanced = {
      ...defaultAdvanced(),
      max_steps: 30,
      seed: '7',
      sample_every: '',
      trigger: ' aiko ',
      precision: 'bf16' as const,
    }
    const made = runBody(3, 'm', main, advanced)
    expect('body' in made && made.body).toMatchObject({
      max_steps: 30,
      seed: 7,
      sample_every: 0,
      trigger: 'aiko',
      precision: 'bf16',
    })
  })

  it('refuses a learning rate that is not a number, naming the field, before asking the server', () => {
    expect(runBody(3, 'm', { ...main, learning_rate: 'fast' }, defaultAdvanced())).toEqual({
      field: 'learning_rate',
      message: 'Enter a number such as 1e-4 or 0.0001',
    })
  })
})
