import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { useToasts } from '@/stores/toasts'
import {
  replenishmentApi,
  type ReplenishmentCharacter,
  type ReplenishmentSettings,
  type ReplenishmentSettingsUpdate,
  type ReplenishmentStatus,
} from './api'

/** Replenishment (topping each character's approved images up to a target) and the
 * auto-correction switch, for the open project. Refreshed by live events (replenishment.batch,
 * image.*, generation.*: see useLiveUpdates), never by polling. */
export const useReplenishment = defineStore('replenishment', () => {
  const toasts = useToasts()
  const projectId = ref<number | null>(null)
  const status = ref<ReplenishmentStatus | null>(null)
  const corrections = ref<boolean | null>(null)
  const loaded = ref(false)
  /** the panel is on screen: decisions (image.* events) then refresh it too */
  const panelOpen = ref(false)
  const error = ref('')
  /** character id -> the action under way ('target' | 'run'), to disable its buttons */
  const busy = ref<Record<number, string>>({})
  let seq = 0

  const settings = computed<ReplenishmentSettings | null>(() => status.value?.settings ?? null)
  const characters = computed<ReplenishmentCharacter[]>(() => status.value?.characters ?? [])
  const running = computed(() => characters.value.filter((c) => c.state === 'running').length)

  async function open(forProject: number) {
    if (projectId.value !== forProject) {
      status.value = null
      loaded.value = false
    }
    projectId.value = forProject
    await refresh(true)
  }

  /** The Approve tab closed: live events stop reloading the status. */
  function close() {
    projectId.value = null
    seq++
  }

  /** Reloads the status (the newest answer wins), and the auto-correction switch when asked. */
  async function refresh(withCorrections = false) {
    if (projectId.value === null) return
    const forProject = projectId.value
    const mine = ++seq
    try {
      const [next, fix] = await Promise.all([
        replenishmentApi.status(forProject),
        withCorrections || corrections.value === null ? replenishmentApi.corrections() : null,
      ])
      if (mine !== seq || forProject !== projectId.value) return
      status.value = next
      if (fix) corrections.value = fix.enabled
      error.value = ''
      loaded.value = true
    } catch (e) {
      if (mine === seq) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  function putCharacter(row: ReplenishmentCharacter) {
    if (!status.value) return
    status.value = {
      ...status.value,
      characters: status.value.characters.map((c) => (c.character_id === row.character_id ? row : c)),
    }
  }

  function putSettings(next: ReplenishmentSettings) {
    if (status.value) status.value = { ...status.value, settings: next }
  }

  async function guarded<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call()
    } catch (e) {
      toasts.error(`${what}: ${e instanceof Error ? e.message : e}`)
      return undefined
    }
  }

  async function toggle(enabled: boolean) {
    const next = await guarded('Could not switch replenishment', () => replenishmentApi.toggle(enabled))
    if (next) {
      putSettings(next)
      await refresh() // every character's state follows the switch
    }
  }

  /** Sets a character's target; the server's message is thrown for the inline field to show. */
  async function setTarget(row: ReplenishmentCharacter, target: number) {
    busy.value = { ...busy.value, [row.character_id]: 'target' }
    try {
      putCharacter(await replenishmentApi.target(row.project_id, row.character_slug, target))
    } finally {
      const { [row.character_id]: _, ...rest } = busy.value
      busy.value = rest
    }
  }

  /** Check now (and resume a character stopped by rejects). */
  async function run(row: ReplenishmentCharacter) {
    busy.value = { ...busy.value, [row.character_id]: 'run' }
    try {
      const next = await guarded(`Could not run replenishment for ${row.character_name}`, () =>
        replenishmentApi.run(row.character_id),
      )
      if (next) putCharacter(next)
    } finally {
      const { [row.character_id]: _, ...rest } = busy.value
      busy.value = rest
    }
  }

  /** Saves changed guards; throws the server's error so the drawer shows it by its field. */
  async function saveSettings(body: ReplenishmentSettingsUpdate) {
    putSettings(await replenishmentApi.settings(body))
    await refresh()
  }

  async function toggleCorrections(enabled: boolean) {
    const next = await guarded('Could not switch auto-correction', () => replenishmentApi.toggleCorrections(enabled))
    if (next) corrections.value = next.enabled
  }

  return {
    projectId,
    status,
    corrections,
    loaded,
    panelOpen,
    error,
    busy,
    settings,
    characters,
    running,
    open,
    close,
    refresh,
    toggle,
    setTarget,
    run,
    saveSettings,
    toggleCorrections,
  }
})
