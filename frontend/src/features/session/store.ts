import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError } from '@/api/errors'
import { sessionApi, type User } from './api'

const WRITE_ROLES = ['admin', 'director']

export const useSession = defineStore('session', () => {
  const user = ref<User | null>(null)
  const state = ref<'loading' | 'signed-in' | 'signed-out' | 'offline'>('loading')
  const error = ref('')

  const canWrite = computed(() => !!user.value && WRITE_ROLES.includes(user.value.role))

  async function load() {
    try {
      user.value = await sessionApi.me()
      state.value = 'signed-in'
    } catch (e) {
      user.value = null
      if (e instanceof ApiError && e.status === 401) {
        state.value = 'signed-out'
      } else {
        state.value = 'offline'
        error.value = e instanceof Error ? e.message : String(e)
      }
    }
  }

  async function signIn(token: string): Promise<boolean> {
    error.value = ''
    try {
      const out = await sessionApi.signIn(token.trim())
      user.value = out.user
      state.value = 'signed-in'
      return true
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e)
      state.value = 'signed-out'
      return false
    }
  }

  /** `?token=...` in the page URL: exchange it for the session cookie, then drop it from the URL. */
  async function bootstrap(location: Location = window.location) {
    const params = new URLSearchParams(location.search)
    const token = params.get('token')
    if (token) {
      params.delete('token')
      const query = params.toString()
      history.replaceState(history.state, '', location.pathname + (query ? `?${query}` : '') + location.hash)
      if (await signIn(token)) return
    }
    await load()
  }

  async function signOut() {
    try {
      await sessionApi.signOut()
    } finally {
      user.value = null
      state.value = 'signed-out'
    }
  }

  return { user, state, error, canWrite, load, signIn, signOut, bootstrap }
})
