import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError } from '@/api/errors'
import { projectApi, type Project, type ProjectCreate, type ProjectUpdate } from './api'

/** Projects: the list (picker, home) and the project the URL points at. */
export const useProjects = defineStore('projects', () => {
  const items = ref<Project[]>([])
  const archived = ref<Project[]>([])
  const loaded = ref(false)
  const current = ref<Project | null>(null)
  const currentSlug = ref<string | null>(null)
  const currentError = ref<ApiError | null>(null)

  const currentId = computed(() => current.value?.id ?? null)

  async function loadList() {
    const [active, old] = await Promise.all([projectApi.list(), projectApi.list({ status: 'archived' })])
    items.value = active.items
    archived.value = old.items
    loaded.value = true
  }

  async function open(slug: string) {
    if (currentSlug.value === slug && current.value) return current.value
    currentSlug.value = slug
    currentError.value = null
    const cached = [...items.value, ...archived.value].find((p) => p.slug === slug)
    current.value = cached ?? null
    try {
      const project = await projectApi.bySlug(slug)
      if (currentSlug.value === slug) current.value = project
    } catch (e) {
      if (currentSlug.value === slug) {
        current.value = null
        currentError.value = e instanceof ApiError ? e : new ApiError(0, { detail: String(e) })
      }
    }
    return current.value
  }

  function close() {
    currentSlug.value = null
    current.value = null
    currentError.value = null
  }

  function replace(project: Project) {
    if (current.value?.id === project.id) current.value = project
    const strip = (list: Project[]) => list.filter((p) => p.id !== project.id)
    const target = project.status === 'archived' ? 'archived' : 'items'
    items.value = strip(items.value)
    archived.value = strip(archived.value)
    const list = target === 'archived' ? archived : items
    list.value = [...list.value, project].sort((a, b) => a.name.localeCompare(b.name))
  }

  async function create(body: ProjectCreate) {
    const project = await projectApi.create(body)
    replace(project)
    return project
  }

  async function update(id: number, body: ProjectUpdate) {
    const project = await projectApi.update(id, body)
    replace(project)
    return project
  }

  async function archive(id: number) {
    const project = await projectApi.archive(id)
    replace(project)
    return project
  }

  async function restore(id: number) {
    const project = await projectApi.restore(id)
    replace(project)
    return project
  }

  /** Live update (project.* events): reload the list and the open project. */
  async function refresh(projectId?: number) {
    await loadList().catch(() => undefined)
    if (current.value && (projectId === undefined || projectId === current.value.id)) {
      try {
        replace(await projectApi.get(current.value.id))
      } catch {
        /* deleted or forbidden: the view shows what it has */
      }
    }
  }

  return {
    items,
    archived,
    loaded,
    current,
    currentId,
    currentError,
    loadList,
    open,
    close,
    create,
    update,
    archive,
    restore,
    refresh,
  }
})
