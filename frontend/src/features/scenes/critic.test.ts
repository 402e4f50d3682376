import { describe, expect, it } from 'vitest'
import { criticModel, criticProblem, decidedByLabel } from './critic'

describe('the pilot critic choice', () => {
  it('sends no model for the rules critic and the trimmed name for an Ollama one', () => {
    expect(criticModel('rules', 'qwen2.5:7b')).toBeNull()
    expect(criticModel('ollama', '  qwen2.5:7b ')).toBe('qwen2.5:7b')
  })

  it('refuses a blank, too long or odd model name before sending', () => {
    expect(criticProblem('rules', '')).toBe('')
    expect(criticProblem('ollama', 'library/qwen2.5:7b-instruct_q4')).toBe('')
    expect(criticProblem('ollama', '   ')).toMatch(/Name the Ollama model/)
    expect(criticProblem('ollama', 'q'.repeat(201))).toMatch(/200/)
    expect(criticProblem('ollama', 'qwen 2.5')).toMatch(/only/)
    expect(criticProblem('ollama', '../etc')).toMatch(/only/)
  })
})

describe('who decided a pilot', () => {
  it('names the user, the Ollama model or the rules', () => {
    expect(decidedByLabel({ decided_by: 'user', critic: 'ollama:qwen2.5:7b' })).toBe('You')
    expect(decidedByLabel({ decided_by: 'critic', critic: 'ollama:qwen2.5:7b' })).toBe('Critic (Ollama qwen2.5:7b)')
    expect(decidedByLabel({ decided_by: 'critic', critic: 'rules' })).toBe('Critic (rules)')
    expect(decidedByLabel({ decided_by: null, critic: 'rules' })).toBe('')
  })
})
