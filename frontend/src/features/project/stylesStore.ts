import { defineStore } from 'pinia'
import { ref } from 'vue'
import { styleApi, type Style, type StyleCreate, type StyleOptions, type StyleUpdate } from './api'

/** Generation styles are studio-wide; a project picks one as its default. */
export const useStyles = defineStore('styles', () => {
  const items = ref<Style[]>([])
  const options = ref<StyleOptions | null>(null)
  const loaded = ref(false)

  async function load() {
    const [page, opts] = await Promise.all([styleApi.list(), options.value ? null : styleApi.options()])
    items.value = page.items
    if (opts) options.value = opts
    loaded.value = true
  }

  function put(style: Style) {
    const i = items.value.findIndex((s) => s.id === style.id)
    items.value = i < 0 ? [...items.value, style] : items.value.map((s) => (s.id === style.id ? style : s))
  }

  async function create(body: StyleCreate) {
    const style = await styleApi.create(body)
    put(style)
    return style
  }

  async function update(id: number, body: StyleUpdate) {
    const style = await styleApi.update(id, body)
    put(style)
    return style
  }

  async function remove(id: number) {
    await styleApi.remove(id)
    items.value = items.value.filter((s) => s.id !== id)
  }

  return { items, options, loaded, load, create, update, remove }
})
