import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'
import { productionApi, type BudgetSet, type BudgetStatus, type Scope } from './api'

/** Events after which spend, admitted work or the queue may have changed. */
const MOVES_SPEND = new Set([
  'budget.changed',
  'budget.warning',
  'budget.exceeded',
  'generation.queued',
  'generation.completed',
  'generation.failed',
  'generation.cancelled',
  'training.completed',
  'training.failed',
  'training.cancelled',
  'scene.progress',
  'scene.completed',
  'scene.failed',
  'scene.cancelled',
  'episode.updated',
])

const key = (scope: Scope, id: number) => `${scope}:${id}`

/** Spend vs budget of the scopes on screen (the project, episodes), live from the event stream. */
export const useProduction = defineStore('production', () => {
  const budgets = ref<Record<string, BudgetStatus>>({})
  const errors = ref<Record<string, string>>({})
  const watched = new Map<string, { scope: Scope; id: number; users: number }>()
  let timer: ReturnType<typeof setTimeout> | undefined

  async function load(scope: Scope, id: number) {
    const k = key(scope, id)
    try {
      budgets.value = { ...budgets.value, [k]: await productionApi.budget(scope, id) }
      const { [k]: _, ...rest } = errors.value
      errors.value = rest
    } catch (e) {
      errors.value = { ...errors.value, [k]: e instanceof Error ? e.message : String(e) }
    }
  }

  /** A component shows this scope: load it and keep it fresh until `unwatch`. */
  function watch(scope: Scope, id: number) {
    const k = key(scope, id)
    const entry = watched.get(k) ?? { scope, id, users: 0 }
    entry.users += 1
    watched.set(k, entry)
    return load(scope, id)
  }

  function unwatch(scope: Scope, id: number) {
    const k = key(scope, id)
    const entry = watched.get(k)
    if (entry && --entry.users <= 0) watched.delete(k)
  }

  async function set(scope: Scope, id: number, body: BudgetSet) {
    budgets.value = { ...budgets.value, [key(scope, id)]: await productionApi.setBudget(scope, id, body) }
  }

  async function clear(scope: Scope, id: number) {
    await productionApi.clearBudget(scope, id)
    await load(scope, id)
  }

  function status(scope: Scope, id: number): BudgetStatus | undefined {
    return budgets.value[key(scope, id)]
  }

  /** Live update: spend moved somewhere; the watched scopes are read again (coalesced). */
  function applyEvent(event: StreamEvent) {
    if (!MOVES_SPEND.has(event.type) || watched.size === 0) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      for (const { scope, id } of watched.values()) load(scope, id).catch(() => undefined)
    }, 400)
  }

  return { budgets, errors, load, watch, unwatch, set, clear, status, applyEvent }
})
