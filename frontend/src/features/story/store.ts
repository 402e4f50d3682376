import { defineStore } from 'pinia'
import { ref } from 'vue'
import {
  storyApi,
  type Storyline,
  type StorylineCreate,
  type StorylineUpdate,
  type WorldSettings,
  type WorldSettingsIn,
} from './api'

/** Storylines and world settings of the open project. */
export const useStory = defineStore('story', () => {
  const projectId = ref<number | null>(null)
  const storylines = ref<Storyline[]>([])
  const world = ref<WorldSettings | null>(null)
  const loaded = ref(false)
  /** Bumped when world settings change on the server (another tab), so the form can offer a reload. */
  const worldVersion = ref(0)

  async function load(forProject: number) {
    if (projectId.value !== forProject) {
      storylines.value = []
      world.value = null
      loaded.value = false
    }
    projectId.value = forProject
    const [lines, settings] = await Promise.all([storyApi.storylines(forProject), storyApi.world(forProject)])
    if (projectId.value !== forProject) return
    storylines.value = lines.items
    world.value = settings
    loaded.value = true
  }

  function put(line: Storyline) {
    const i = storylines.value.findIndex((s) => s.id === line.id)
    storylines.value = i < 0 ? [...storylines.value, line] : storylines.value.map((s) => (s.id === line.id ? line : s))
  }

  async function createStoryline(body: StorylineCreate) {
    const line = await storyApi.createStoryline(body)
    put(line)
    return line
  }

  async function updateStoryline(id: number, body: StorylineUpdate) {
    const line = await storyApi.updateStoryline(id, body)
    put(line)
    return line
  }

  async function deleteStoryline(id: number) {
    await storyApi.deleteStoryline(id)
    storylines.value = storylines.value.filter((s) => s.id !== id)
  }

  async function saveWorld(body: WorldSettingsIn) {
    if (projectId.value === null) throw new Error('No project open')
    world.value = await storyApi.saveWorld(projectId.value, body)
    return world.value
  }

  async function refreshStorylines() {
    if (projectId.value === null) return
    const forProject = projectId.value
    const lines = await storyApi.storylines(forProject)
    if (projectId.value === forProject) storylines.value = lines.items
  }

  async function refreshWorld() {
    if (projectId.value === null) return
    const forProject = projectId.value
    const settings = await storyApi.world(forProject)
    if (projectId.value !== forProject) return
    if (settings.updated_at !== world.value?.updated_at) {
      world.value = settings
      worldVersion.value++
    }
  }

  return {
    projectId,
    storylines,
    world,
    loaded,
    worldVersion,
    load,
    createStoryline,
    updateStoryline,
    deleteStoryline,
    saveWorld,
    refreshStorylines,
    refreshWorld,
  }
})
