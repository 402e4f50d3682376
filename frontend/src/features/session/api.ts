import { api, unwrap, type Resp } from '@/api/client'

export type User = Resp<'/auth/me', 'get'>

export const sessionApi = {
  me: () => unwrap(api.GET('/auth/me')),
  signIn: (token: string) => unwrap(api.POST('/auth/session', { body: { token } })),
  signOut: () => unwrap(api.DELETE('/auth/session')),
}
