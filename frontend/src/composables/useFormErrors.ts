import { ref } from 'vue'
import { mapErrors } from '@/api/errors'

/** Server validation messages for one form: `fields[key]` next to the control, `general` on top. */
export function useFormErrors(known: readonly string[]) {
  const fields = ref<Record<string, string>>({})
  const general = ref<string[]>([])

  function capture(err: unknown) {
    const mapped = mapErrors(err, known)
    fields.value = mapped.fields
    general.value = mapped.general
  }

  function clear(key?: string) {
    if (key === undefined) {
      fields.value = {}
      general.value = []
    } else if (fields.value[key]) {
      const { [key]: _, ...rest } = fields.value
      fields.value = rest
    }
  }

  return { fields, general, capture, clear }
}
