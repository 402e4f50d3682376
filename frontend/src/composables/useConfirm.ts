import { ref } from 'vue'

export interface ConfirmRequest {
  title: string
  message: string
  confirmLabel: string
  danger: boolean
  resolve: (ok: boolean) => void
}

/** One confirm dialog for the app (rendered by ConfirmHost in App.vue). Destructive actions ask once. */
export const pendingConfirm = ref<ConfirmRequest | null>(null)

export function confirmAction(options: { title: string; message: string; confirmLabel?: string; danger?: boolean }) {
  return new Promise<boolean>((resolve) => {
    pendingConfirm.value?.resolve(false)
    pendingConfirm.value = {
      title: options.title,
      message: options.message,
      confirmLabel: options.confirmLabel ?? 'Confirm',
      danger: options.danger ?? true,
      resolve: (ok) => {
        pendingConfirm.value = null
        resolve(ok)
      },
    }
  })
}
