import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { useTheme } from './composables/useTheme'
import { useSession } from './features/session/store'
import { createAppRouter } from './router'
import './style.css'

useTheme().apply()

const app = createApp(App)
app.use(createPinia())

// Exchange a `?token=` for the session cookie (and strip it from the URL) before the router
// reads the URL, then start routing and mount.
useSession()
  .bootstrap()
  .finally(() => {
    app.use(createAppRouter())
    app.mount('#app')
  })
