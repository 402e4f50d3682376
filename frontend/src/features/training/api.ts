import { api, unwrap, type Body, type Resp } from '@/api/client'

export type TrainingRun = Resp<'/training/runs/{run_id}', 'get'>
export type TrainingRunCreate = Body<'/training/runs', 'post'>
export type RunStatus = TrainingRun['status']
export type Precision = NonNullable<TrainingRunCreate['precision']>
export type BaseModel = Resp<'/training/base-models', 'get'>[number]
export type Readiness = Resp<'/training/readiness', 'get'>
export type Lora = Resp<'/characters/{character_id}/loras', 'get'>[number]

const run = (run_id: number) => ({ params: { path: { run_id } } })

export const trainingApi = {
  baseModels: () => unwrap(api.GET('/training/base-models')),
  readiness: (characterId: number) =>
    unwrap(api.GET('/training/readiness', { params: { query: { character_id: characterId } } })),
  create: (body: TrainingRunCreate) => unwrap(api.POST('/training/runs', { body })),
  list: (characterId: number, query: { limit?: number; offset?: number } = {}) =>
    unwrap(api.GET('/training/runs', { params: { query: { character_id: characterId, limit: 50, ...query } } })),
  get: (runId: number) => unwrap(api.GET('/training/runs/{run_id}', run(runId))),
  cancel: (runId: number) => unwrap(api.POST('/training/runs/{run_id}/cancel', run(runId))),
  /** Makes the run's LoRA the character's active one. */
  use: (runId: number) => unwrap(api.POST('/training/runs/{run_id}/use', run(runId))),
  loras: (characterId: number) =>
    unwrap(api.GET('/characters/{character_id}/loras', { params: { path: { character_id: characterId } } })),
}
