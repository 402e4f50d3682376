import type { Pilot } from './pilots'

/** An Ollama model name as `ollama pull` takes it (the server checks the same). */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/
export const MODEL_MAX = 200

export type CriticChoice = 'rules' | 'ollama'

/** The `critic_model` of a new pilot: null for the rules critic alone, else the trimmed name. */
export function criticModel(choice: CriticChoice, name: string): string | null {
  return choice === 'ollama' ? name.trim() : null
}

/** Why the critic choice cannot be sent ('' when it can). */
export function criticProblem(choice: CriticChoice, name: string): string {
  if (choice === 'rules') return ''
  const model = name.trim()
  if (!model) return 'Name the Ollama model (e.g. qwen2.5:7b)'
  if (model.length > MODEL_MAX) return `At most ${MODEL_MAX} characters`
  if (!MODEL_NAME.test(model)) return 'Letters, digits and . _ : / - only'
  return ''
}

/** Who decided the pilot: "You", "Critic (Ollama qwen2.5:7b)" or "Critic (rules)"; '' before. */
export function decidedByLabel(p: Pick<Pilot, 'decided_by' | 'critic'>): string {
  if (p.decided_by === 'user') return 'You'
  if (p.decided_by !== 'critic') return ''
  return p.critic.startsWith('ollama:') ? `Critic (Ollama ${p.critic.slice('ollama:'.length)})` : 'Critic (rules)'
}
