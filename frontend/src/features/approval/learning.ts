import { defineStore } from 'pinia'
import { ref } from 'vue'
import { characterApi, type Learning } from '@/features/characters/api'

/** What the reviews of one character taught (the character page's Learning panel). Reloaded by
 * live events (a decision, quality.drift, regeneration.queued: see useLiveUpdates). */
export const useLearning = defineStore('learning', () => {
  const characterId = ref<number | null>(null)
  const data = ref<Learning | null>(null)
  const error = ref('')
  let seq = 0

  async function open(id: number | null) {
    if (id !== characterId.value) data.value = null
    characterId.value = id
    await refresh()
  }

  async function refresh() {
    const id = characterId.value
    if (id === null) return
    const mine = ++seq
    try {
      const next = await characterApi.learning(id)
      if (mine !== seq || id !== characterId.value) return
      data.value = next
      error.value = ''
    } catch (e) {
      if (mine === seq) error.value = e instanceof Error ? e.message : String(e)
    }
  }

  /** the panel closed: events stop reloading it */
  function close() {
    characterId.value = null
    data.value = null
  }

  return { characterId, data, error, open, refresh, close }
})
