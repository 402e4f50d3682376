import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { useToasts } from '@/stores/toasts'
import {
  approvalApi,
  type ImageRead,
  type ImageStatus,
  type ImageSummary,
  type QueueFilters,
  type RejectCode,
  type RejectReason,
} from './api'
import { nextPending } from './queue'

export const emptyFilters = (): QueueFilters => ({
  characterId: null,
  status: 'pending',
  source: null,
  minScore: null,
  maxScore: null,
  verdict: null,
})

interface Decision {
  imageId: number
  before: ImageStatus
  after: ImageStatus
  /** settled: the server has it (undo may then ask the server to revert it) */
  request: Promise<unknown>
}

const PAGE = 100

/** The review queue of the open project: images in review order, a cursor, and this session's
 * decisions (for Z). Decisions are optimistic: the next image shows at once; a refusal rolls the
 * image back, puts the cursor on it and says why in a toast. */
export const useApproval = defineStore('approval', () => {
  const toasts = useToasts()
  const projectId = ref<number | null>(null)
  const filters = ref<QueueFilters>(emptyFilters())
  const items = ref<ImageRead[]>([])
  const total = ref(0)
  const index = ref(0)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref('')
  const summary = ref<ImageSummary[]>([])
  const reasons = ref<RejectReason[]>([])
  const skipped = ref<Set<number>>(new Set())
  const history = shallowRef<Decision[]>([])
  let generation = 0
  /** Decisions go to the server one after another: a slow server then holds one of the browser's
   * six connections, not all of them, and the images ahead keep loading. */
  let sending: Promise<unknown> = Promise.resolve()

  const current = computed<ImageRead | null>(() => items.value[index.value] ?? null)
  const reasonKeys = computed(() => Object.fromEntries(reasons.value.map((r) => [r.key, r.code])))
  const pendingLeft = computed(() => items.value.filter((i) => i.status === 'pending').length)
  const totals = computed(() =>
    summary.value.reduce(
      (t, s) => ({
        pending: t.pending + s.pending,
        approved: t.approved + s.approved,
        rejected: t.rejected + s.rejected,
      }),
      { pending: 0, approved: 0, rejected: 0 },
    ),
  )
  /** how many of the loaded images the server still counts under the filter's status */
  const serverOffset = () => items.value.filter((i) => i.status === filters.value.status).length

  async function open(forProject: number, next: QueueFilters) {
    const gen = ++generation
    projectId.value = forProject
    filters.value = next
    items.value = []
    index.value = 0
    skipped.value = new Set()
    loaded.value = false
    loading.value = true
    try {
      const [page] = await Promise.all([
        approvalApi.list(forProject, next, 0, PAGE),
        reasons.value.length ? null : loadReasons(),
        refreshSummary(),
      ])
      if (gen !== generation) return
      items.value = page.items
      total.value = page.total
      error.value = ''
      loaded.value = true
    } catch (e) {
      if (gen === generation) error.value = e instanceof Error ? e.message : String(e)
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  async function loadReasons() {
    reasons.value = await approvalApi.reasons()
  }

  let summarySeq = 0
  async function refreshSummary() {
    if (projectId.value === null) return
    const forProject = projectId.value
    const seq = ++summarySeq
    const rows = await approvalApi.summary(forProject)
    // only the newest answer counts (an older one may land last)
    if (forProject === projectId.value && seq === summarySeq) summary.value = rows
  }

  /** Appends what the server has beyond the loaded images (the next page, or images that
   * generation has just made). */
  async function loadMore() {
    if (projectId.value === null || loading.value) return
    const gen = generation
    loading.value = true
    try {
      const page = await approvalApi.list(projectId.value, filters.value, serverOffset(), PAGE)
      if (gen !== generation) return
      const known = new Set(items.value.map((i) => i.id))
      const fresh = page.items.filter((i) => !known.has(i.id))
      total.value = page.total
      if (fresh.length) {
        const wasDone = current.value?.status !== 'pending'
        items.value = [...items.value, ...fresh]
        // the queue was finished: jump to the first new image
        if (wasDone) index.value = items.value.length - fresh.length
      }
    } catch {
      /* the next trigger tries again */
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  /** A reason code the server knows (the keyboard and the chips hand over plain strings). */
  const reasonCode = (reason?: string): RejectCode | undefined => reasons.value.find((r) => r.code === reason)?.code

  function setStatus(imageId: number, status: ImageStatus, from?: ImageRead) {
    items.value = items.value.map((i) => (i.id === imageId ? { ...(from ?? i), status } : i))
  }

  function bumpCount(characterId: number, from: ImageStatus, to: ImageStatus) {
    summary.value = summary.value.map((s) =>
      s.character_id === characterId ? { ...s, [from]: Math.max(0, s[from] - 1), [to]: s[to] + 1 } : s,
    )
  }

  function advance() {
    const next = nextPending(items.value, index.value, skipped.value)
    // nothing pending left (wherever the cursor is): past the end, the view says "all caught up"
    index.value = next >= 0 ? next : items.value.length
    if (items.value.length - index.value < 10) loadMore()
  }

  function move(delta: number) {
    index.value = Math.max(0, Math.min(items.value.length - 1, index.value + delta))
    if (delta > 0 && items.value.length - index.value < 10) loadMore()
  }

  function skip() {
    const image = current.value
    if (!image) return
    skipped.value = new Set(skipped.value).add(image.id)
    advance()
  }

  /** Approve or reject the current image: shown as decided at once, rolled back if refused. */
  function decide(action: 'approve' | 'reject', reason?: string) {
    const image = current.value
    if (!image || image.status === (action === 'approve' ? 'approved' : 'rejected')) return
    const code = reasonCode(reason)
    if (action === 'reject' && !code) return
    const before = image.status
    const after: ImageStatus = action === 'approve' ? 'approved' : 'rejected'
    setStatus(image.id, after)
    bumpCount(image.character_id, before, after)
    const decision: Decision = { imageId: image.id, before, after, request: Promise.resolve() }
    const send = () => (action === 'approve' ? approvalApi.approve(image.id) : approvalApi.reject(image.id, code!))
    decision.request = sending
      .then(send, send)
      .then((saved) => {
        const now = items.value.find((i) => i.id === image.id)
        if (now?.status === after) setStatus(image.id, saved.status, saved)
      })
      .catch((e: unknown) => {
        // an undo already put it back: only the toast is left to say
        if (history.value.includes(decision)) rollback(decision, image.character_id)
        toasts.error(`Could not ${action} image ${image.id}: ${e instanceof Error ? e.message : e}`)
        throw e
      })
    decision.request.catch(() => undefined)
    sending = decision.request
    history.value = [...history.value, decision]
    advance()
  }

  function rollback(decision: Decision, characterId: number) {
    history.value = history.value.filter((d) => d !== decision)
    setStatus(decision.imageId, decision.before)
    bumpCount(characterId, decision.after, decision.before)
    const at = items.value.findIndex((i) => i.id === decision.imageId)
    if (at >= 0) index.value = at
    refreshSummary().catch(() => undefined)
  }

  /** Z: reverts this session's last decision and shows that image again. The revert joins the
   * same one-after-another line as decisions, so an image decided again right after Z reaches the
   * server after its undo; the undo's answer never overwrites that newer decision. */
  async function undo() {
    const last = history.value[history.value.length - 1]
    if (!last) {
      toasts.push('Nothing to undo in this session')
      return
    }
    history.value = history.value.slice(0, -1)
    const image = items.value.find((i) => i.id === last.imageId)
    const characterId = image?.character_id ?? 0
    setStatus(last.imageId, last.before)
    bumpCount(characterId, last.after, last.before)
    const at = items.value.findIndex((i) => i.id === last.imageId)
    if (at >= 0) index.value = at
    // the decision must have reached the server before it can be undone; if it never did, the
    // rollback has already restored it
    const reached = last.request.then(
      () => true,
      () => false,
    )
    const request = sending
      .then(
        () => reached,
        () => reached,
      )
      .then((ok) => (ok ? approvalApi.undo(last.imageId) : null))
    sending = request.catch(() => undefined)
    const untouched = () => items.value.find((i) => i.id === last.imageId)?.status === last.before
    try {
      const saved = await request
      if (!saved) return
      if (untouched()) setStatus(saved.id, saved.status, saved)
      refreshSummary().catch(() => undefined)
    } catch (e) {
      if (untouched()) {
        setStatus(last.imageId, last.after)
        bumpCount(characterId, last.before, last.after)
        history.value = [...history.value, last]
      }
      toasts.error(`Could not undo: ${e instanceof Error ? e.message : e}`)
    }
  }

  async function bulk(ids: number[], action: 'approve' | 'reject', reason?: string) {
    if (!ids.length) return
    const result = await approvalApi.bulk(ids, action, reasonCode(reason))
    const byId = new Map(result.items.map((i) => [i.id, i]))
    items.value = items.value.map((i) => byId.get(i.id) ?? i)
    await refreshSummary().catch(() => undefined)
    toasts.push(
      `${result.items.length} image${result.items.length === 1 ? '' : 's'} ${action === 'approve' ? 'approved' : 'rejected'}`,
      { tone: 'success' },
    )
  }

  /** An image.* event from another reviewer (or the model): take the server's row. */
  async function refreshImage(imageId: number) {
    if (!items.value.some((i) => i.id === imageId)) return
    if (history.value.some((d) => d.imageId === imageId)) return // our own decision, already shown
    const fresh = await approvalApi.get(imageId)
    setStatus(fresh.id, fresh.status, fresh)
  }

  return {
    projectId,
    filters,
    items,
    total,
    index,
    loading,
    loaded,
    error,
    summary,
    reasons,
    skipped,
    history,
    current,
    reasonKeys,
    pendingLeft,
    totals,
    open,
    loadMore,
    refreshSummary,
    move,
    skip,
    decide,
    undo,
    bulk,
    refreshImage,
    advance,
  }
})
