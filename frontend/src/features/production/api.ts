import { api, unwrap, type Body, type Resp } from '@/api/client'

export type BudgetStatus = Resp<'/projects/{project_id}/budget', 'get'>
export type BudgetSet = Body<'/projects/{project_id}/budget', 'put'>
export type CostReport = Resp<'/projects/{project_id}/costs', 'get'>
export type Webhook = Resp<'/webhooks/{webhook_id}', 'patch'>
export type WebhookCreated = Resp<'/projects/{project_id}/webhooks', 'post'>
export type WebhookCreate = Body<'/projects/{project_id}/webhooks', 'post'>
export type WebhookUpdate = Body<'/webhooks/{webhook_id}', 'patch'>
export type Delivery = Resp<'/webhooks/{webhook_id}/deliveries', 'get'>['items'][number]
export type Scope = 'project' | 'episode'

const project = (project_id: number) => ({ params: { path: { project_id } } })
const episode = (episode_id: number) => ({ params: { path: { episode_id } } })
const hook = (webhook_id: number) => ({ params: { path: { webhook_id } } })

export const productionApi = {
  budget: (scope: Scope, id: number) =>
    scope === 'project'
      ? unwrap(api.GET('/projects/{project_id}/budget', project(id)))
      : unwrap(api.GET('/episodes/{episode_id}/budget', episode(id))),
  setBudget: (scope: Scope, id: number, body: BudgetSet) =>
    scope === 'project'
      ? unwrap(api.PUT('/projects/{project_id}/budget', { ...project(id), body }))
      : unwrap(api.PUT('/episodes/{episode_id}/budget', { ...episode(id), body })),
  clearBudget: (scope: Scope, id: number) =>
    scope === 'project'
      ? unwrap(api.DELETE('/projects/{project_id}/budget', project(id)))
      : unwrap(api.DELETE('/episodes/{episode_id}/budget', episode(id))),
  costs: (projectId: number, by?: 'scene' | 'episode' | 'character') =>
    unwrap(api.GET('/projects/{project_id}/costs', { params: { path: { project_id: projectId }, query: { by } } })),
  webhooks: (projectId: number) => unwrap(api.GET('/projects/{project_id}/webhooks', project(projectId))),
  createWebhook: (projectId: number, body: WebhookCreate) =>
    unwrap(api.POST('/projects/{project_id}/webhooks', { ...project(projectId), body })),
  updateWebhook: (webhookId: number, body: WebhookUpdate) =>
    unwrap(api.PATCH('/webhooks/{webhook_id}', { ...hook(webhookId), body })),
  removeWebhook: (webhookId: number) => unwrap(api.DELETE('/webhooks/{webhook_id}', hook(webhookId))),
  deliveries: (webhookId: number) =>
    unwrap(
      api.GET('/webhooks/{webhook_id}/deliveries', {
        params: { path: { webhook_id: webhookId }, query: { limit: 50 } },
      }),
    ),
  test: (webhookId: number) => unwrap(api.POST('/webhooks/{webhook_id}/test', hook(webhookId))),
  redeliver: (deliveryId: number) =>
    unwrap(api.POST('/deliveries/{delivery_id}/redeliver', { params: { path: { delivery_id: deliveryId } } })),
}
