import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { StreamEvent } from '@/composables/useLiveUpdates'

/** Tells open delivery logs to read again when one of their deliveries moved (webhook.* events). */
export const useWebhookLog = defineStore('webhookLog', () => {
  const versions = ref<Record<number, number>>({})

  function touch(webhookId: number) {
    versions.value = { ...versions.value, [webhookId]: (versions.value[webhookId] ?? 0) + 1 }
  }

  function applyEvent(event: StreamEvent) {
    const id = event.payload.webhook_id
    if (event.type.startsWith('webhook.') && typeof id === 'number') setTimeout(() => touch(id), 300)
  }

  return { versions, touch, applyEvent }
})
