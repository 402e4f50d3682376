import { onBeforeUnmount, onMounted } from 'vue'

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false
  if (target.isContentEditable) return true
  const tag = target.tagName
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true
  if (tag !== 'INPUT') return false
  const type = (target as HTMLInputElement).type
  return !['checkbox', 'radio', 'button', 'submit', 'reset', 'color', 'file', 'range'].includes(type)
}

export interface HotkeyHandlers {
  /** `g` then a letter */
  go: (letter: string) => boolean
  /** `/` */
  search: () => boolean
}

/** Global keys: `g` then a letter jumps to a tab, `/` focuses the current view's search field.
 * Keys typed into fields are left alone; Esc is handled by each drawer/dialog. */
export function useHotkeys(handlers: HotkeyHandlers) {
  let pendingG = 0

  function onKey(event: KeyboardEvent) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return
    if (isTyping(event.target)) return
    if (document.querySelector('dialog[open]')) return
    const now = Date.now()
    if (pendingG && now - pendingG < 1200) {
      pendingG = 0
      if (handlers.go(event.key.toLowerCase())) event.preventDefault()
      return
    }
    if (event.key === 'g') {
      pendingG = now
      return
    }
    if (event.key === '/' && handlers.search()) event.preventDefault()
  }

  onMounted(() => window.addEventListener('keydown', onKey))
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey))
}

/** Focuses the visible search field of the current view (marked with data-search). */
export function focusSearch(): boolean {
  const fields = Array.from(document.querySelectorAll<HTMLElement>('[data-search]'))
  const field = fields.find((el) => el.offsetParent !== null) ?? fields[0]
  if (!field) return false
  field.focus()
  if (field instanceof HTMLInputElement) field.select()
  return true
}
