import { defineStore } from 'pinia'
import { ref } from 'vue'
import { characterApi, type Character, type CharacterCreate, type CharacterUpdate } from './api'

/** The characters of the open project, active and archived. */
export const useCharacters = defineStore('characters', () => {
  const items = ref<Character[]>([])
  const archived = ref<Character[]>([])
  const projectId = ref<number | null>(null)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref('')
  /** Bumped whenever a character changes, so open detail views refetch prompt/images. */
  const version = ref(0)

  async function load(forProject: number) {
    if (projectId.value !== forProject) {
      items.value = []
      archived.value = []
      loaded.value = false
    }
    projectId.value = forProject
    loading.value = true
    try {
      const [active, old] = await Promise.all([characterApi.list(forProject), characterApi.list(forProject, true)])
      if (projectId.value !== forProject) return
      items.value = active.items
      archived.value = old.items.filter((c) => c.archived)
      error.value = ''
      loaded.value = true
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
    } finally {
      loading.value = false
    }
  }

  /** Points the store at a project without loading its list (a detail view fetches one). */
  function adopt(forProject: number) {
    if (projectId.value === forProject) return
    projectId.value = forProject
    items.value = []
    archived.value = []
    loaded.value = false
  }

  function put(character: Character) {
    if (character.project_id !== projectId.value) return
    items.value = items.value.filter((c) => c.id !== character.id)
    archived.value = archived.value.filter((c) => c.id !== character.id)
    const list = character.archived ? archived : items
    list.value = [...list.value, character]
    version.value++
  }

  function bySlug(slug: string): Character | undefined {
    return items.value.find((c) => c.slug === slug) ?? archived.value.find((c) => c.slug === slug)
  }

  async function create(body: CharacterCreate) {
    const character = await characterApi.create(body)
    put(character)
    return character
  }

  async function update(id: number, body: CharacterUpdate) {
    const character = await characterApi.update(id, body)
    put(character)
    return character
  }

  async function archive(id: number) {
    const character = await characterApi.archive(id)
    put(character)
    return character
  }

  async function restore(id: number) {
    const character = await characterApi.restore(id)
    put(character)
    return character
  }

  /** Live update (character.* / reference_image.* events). */
  async function refresh(characterId?: number) {
    if (projectId.value === null) return
    if (characterId !== undefined) {
      try {
        put(await characterApi.get(characterId))
        return
      } catch {
        /* fall through to a full reload */
      }
    }
    await load(projectId.value)
    version.value++
  }

  return {
    items,
    archived,
    projectId,
    loading,
    loaded,
    error,
    version,
    load,
    adopt,
    put,
    bySlug,
    create,
    update,
    archive,
    restore,
    refresh,
  }
})
