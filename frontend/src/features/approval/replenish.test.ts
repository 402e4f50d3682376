import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useToasts } from '@/stores/toasts'
import { useReplenishment } from './replenish'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

const SETTINGS = {
  enabled: false,
  default_target: 20,
  cooldown_s: 60,
  daily_limit: 10,
  max_consecutive_rejects: 5,
  pending_buffer: 3,
  max_concurrent: 2,
  batch_size: 3,
}
const character = (over: Record<string, unknown> = {}) => ({
  character_id: 3,
  character_slug: 'aiko',
  character_name: 'Aiko',
  project_id: 7,
  project_slug: 'deck',
  target: 20,
  approved: 2,
  pending: 0,
  in_flight: 0,
  deficit: 18,
  daily_count: 0,
  consecutive_rejects: 0,
  last_run_at: null,
  cooldown_until: null,
  stopped_reason: null,
  state: 'disabled',
  ...over,
})

describe('replenishment store', () => {
  let settings: typeof SETTINGS
  let row: ReturnType<typeof character>
  let calls: string[]

  beforeEach(() => {
    setActivePinia(createPinia())
    settings = { ...SETTINGS }
    row = character()
    calls = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        const url = new URL(request.url)
        const path = url.pathname.replace(/^.*\/api\/lora/, '')
        calls.push(`${request.method} ${path}${url.search}`)
        if (path === '/replenishment/status') return json({ settings, active_batches: 0, characters: [row] })
        if (path === '/corrections/settings') return json({ enabled: false })
        if (path === '/replenishment/toggle') {
          settings = { ...settings, enabled: url.searchParams.get('enabled') === 'true' }
          row = { ...row, state: settings.enabled ? 'running' : 'disabled' }
          return json(settings)
        }
        if (path === '/replenishment/target') {
          const target = Number(url.searchParams.get('target'))
          if (target > 100000)
            return json({ detail: 'target must be at most 100000', code: 'validation_error', field: 'target' }, 422)
          row = { ...row, target }
          return json(row)
        }
        if (path === '/replenishment/run') return json({ ...row, state: 'running' })
        if (path === '/replenishment/settings') {
          const body = await request.json()
          settings = { ...settings, ...body }
          return json(settings)
        }
        return json({ detail: 'not found', code: 'not_found' }, 404)
      }),
    )
  })
  afterEach(() => vi.unstubAllGlobals())

  it('loads the status for the open project and follows the studio switch', async () => {
    const store = useReplenishment()
    await store.open(7)
    expect(calls).toContain('GET /replenishment/status?project_id=7')
    expect(store.settings?.enabled).toBe(false)
    expect(store.corrections).toBe(false)
    await store.toggle(true)
    expect(calls).toContain('POST /replenishment/toggle?enabled=true')
    expect(store.settings?.enabled).toBe(true)
    expect(store.characters[0]!.state).toBe('running') // re-read after the switch
  })

  it('sets a target by slug and project; a refusal is thrown for the field and changes nothing', async () => {
    const store = useReplenishment()
    await store.open(7)
    await store.setTarget(store.characters[0]!, 40)
    expect(calls).toContain('POST /replenishment/target?target=40&character_slug=aiko&project_id=7')
    expect(store.characters[0]!.target).toBe(40)
    await expect(store.setTarget(store.characters[0]!, 200000)).rejects.toThrow('at most 100000')
    expect(store.characters[0]!.target).toBe(40)
    expect(store.busy).toEqual({})
  })

  it('sends only the guards it is given', async () => {
    const store = useReplenishment()
    await store.open(7)
    await store.saveSettings({ daily_limit: 4 })
    expect(store.settings?.daily_limit).toBe(4)
    expect(store.settings?.cooldown_s).toBe(60)
  })

  it('says why a run failed in a toast', async () => {
    const store = useReplenishment()
    await store.open(7)
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json({ detail: 'Only reviewers', code: 'forbidden' }, 403)),
    )
    await store.run(store.characters[0]!)
    expect(useToasts().toasts.at(-1)?.message).toContain('Only reviewers')
  })

  it('stops refreshing once closed (no stale project)', async () => {
    const store = useReplenishment()
    await store.open(7)
    store.close()
    const before = calls.length
    await store.refresh()
    expect(calls.length).toBe(before)
  })
})
