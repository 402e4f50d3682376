import { describe, expect, it } from 'vitest'
import { changedModels, checkModels, suggestions } from './models'

const stored = { luna: 'llama3.1', frame: 'llama3.1', saga: 'qwen2.5:7b', pixel: 'llama3.1', lens: 'mistral' }

describe('team role models form', () => {
  it('names every field the server would refuse, and none it accepts', () => {
    /** An empty name, a space inside or a leading symbol is refused before saving, next to its field. */
    const errors = checkModels({ ...stored, luna: '  ', frame: 'llama 3', saga: '-x', lens: 'library/qwen2.5:7b' })
    expect(Object.keys(errors).sort()).toEqual(['frame', 'luna', 'saga'])
    expect(errors.luna).toMatch(/Name an Ollama model/)
    expect(checkModels(stored)).toEqual({})
    expect(checkModels({ ...stored, pixel: 'a'.repeat(201) }).pixel).toMatch(/200/)
  })

  it('sends nothing when the form equals what is stored, and trimmed names otherwise', () => {
    /** Saving an unchanged form is a no-op; whitespace around a name never reaches the server. */
    expect(changedModels({ ...stored, luna: ' llama3.1 ' }, stored)).toBeNull()
    expect(changedModels({ ...stored, lens: ' phi3 ' }, stored)).toEqual({ ...stored, lens: 'phi3' })
    expect(changedModels(stored, null)).toEqual(stored)
  })

  it('suggests the chat model and the stored models once each', () => {
    /** The suggestion list has no duplicates and includes the chat model a new role falls back to. */
    expect(suggestions(stored, 'phi3')).toEqual(['llama3.1', 'mistral', 'phi3', 'qwen2.5:7b'])
    expect(suggestions(null, null)).toEqual([])
  })
})
