import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Toast {
  id: number
  message: string
  tone: 'info' | 'success' | 'error'
  action?: { label: string; run: () => unknown }
}

let nextId = 1

export const useToasts = defineStore('toasts', () => {
  const toasts = ref<Toast[]>([])

  function dismiss(id: number) {
    toasts.value = toasts.value.filter((t) => t.id !== id)
  }

  function push(message: string, options: Partial<Omit<Toast, 'id' | 'message'>> & { timeout?: number } = {}) {
    const toast: Toast = { id: nextId++, message, tone: options.tone ?? 'info', action: options.action }
    toasts.value = [...toasts.value.slice(-3), toast]
    const timeout = options.timeout ?? (toast.action ? 8000 : 4000)
    if (timeout > 0) setTimeout(() => dismiss(toast.id), timeout)
    return toast.id
  }

  return { toasts, push, dismiss, error: (m: string) => push(m, { tone: 'error', timeout: 7000 }) }
})
