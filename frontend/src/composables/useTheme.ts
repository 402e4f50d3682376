import { ref, watch } from 'vue'

export type Theme = 'dark' | 'light'
const KEY = 'anime-studio.theme'

function stored(): Theme {
  try {
    return localStorage.getItem(KEY) === 'light' ? 'light' : 'dark'
  } catch {
    return 'dark'
  }
}

const theme = ref<Theme>(stored())

function apply(value: Theme) {
  document.documentElement.dataset.theme = value
  document.documentElement.style.colorScheme = value
}

watch(theme, (value) => {
  apply(value)
  try {
    localStorage.setItem(KEY, value)
  } catch {
    /* private mode: the choice just isn't remembered */
  }
})

/** Dark by default (media looks right on dark); the light choice is remembered. */
export function useTheme() {
  return {
    theme,
    apply: () => apply(theme.value),
    toggle: () => (theme.value = theme.value === 'dark' ? 'light' : 'dark'),
  }
}
