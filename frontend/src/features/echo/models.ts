/** The team's role models as a form: what the user typed, checked the way the server checks it
 * (packages/echo_integration/team_schemas.py ModelName) so a typo is named before saving, and
 * the names worth suggesting. Kept apart from the component so the rules are tested on their own. */
import type { TeamModels } from './api'
import { TEAM } from './team'

export type Role = keyof TeamModels
export const ROLES = TEAM as readonly Role[]

/** Ollama model names: letters, digits and . _ : / - (such as `llama3.1:8b` or `library/qwen2.5`). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/

/** The message for each field that the server would refuse; empty when every field is fine. */
export function checkModels(form: Record<Role, string>): Partial<Record<Role, string>> {
  const errors: Partial<Record<Role, string>> = {}
  for (const role of ROLES) {
    const name = (form[role] ?? '').trim()
    if (!name) errors[role] = 'Name an Ollama model, such as llama3.1'
    else if (name.length > 200) errors[role] = 'At most 200 characters'
    else if (!MODEL_NAME.test(name))
      errors[role] = 'Letters, digits and . _ : / - only, starting with a letter or digit (as in llama3.1:8b)'
  }
  return errors
}

/** The trimmed body to PUT, or null when nothing differs from what is stored. */
export function changedModels(form: Record<Role, string>, stored: TeamModels | null): TeamModels | null {
  const body = Object.fromEntries(ROLES.map((r) => [r, (form[r] ?? '').trim()])) as TeamModels
  return stored && ROLES.every((r) => body[r] === stored[r]) ? null : body
}

/** Names to offer in each field: the project's models and Echo Brain's chat model, once each. */
export function suggestions(stored: TeamModels | null, chatModel: string | null | undefined): string[] {
  const names = new Set<string>()
  if (chatModel) names.add(chatModel)
  for (const r of ROLES) if (stored?.[r]) names.add(stored[r])
  return [...names].sort()
}
