"""HTTP for production control: cost totals, budgets of projects and episodes (spend vs budget with
a forecast), webhooks (admin only) with their delivery log, "send test" and "deliver again".
Contract: /work/briefs/production_api.md."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.schemas import Page, PageParams, changes, page_params
from packages.production import budgets, costs, queries, service
from packages.production.schemas import (
    BudgetSet, BudgetStatus, CostReport, CostRow, DeliveryRead, Spend, WebhookCreate, WebhookCreated, WebhookRead,
    WebhookUpdate,
)

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
Admin = require("admin")
Paging = Annotated[PageParams, Depends(page_params)]
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


async def project_from_path(project_id: Id, conn: Conn) -> int:
    if not await queries.project_exists(conn, project_id):
        raise NotFound("No project with that id", code="project_not_found")
    return project_id


async def episode_from_path(episode_id: Id, conn: Conn):
    row = await queries.get_episode(conn, episode_id)
    if row is None:
        raise NotFound("No episode with that id", code="episode_not_found")
    return row


async def webhook_from_path(webhook_id: Id, conn: Conn):
    row = await queries.get_webhook(conn, webhook_id)
    if row is None:
        raise NotFound("No webhook with that id", code="webhook_not_found")
    return row


async def delivery_from_path(delivery_id: Id, conn: Conn):
    row = await queries.get_delivery(conn, delivery_id)
    if row is None:
        raise NotFound("No delivery with that id", code="delivery_not_found")
    return row


ProjectId = Annotated[int, Depends(project_from_path)]
Episode = Annotated[dict, Depends(episode_from_path)]
Webhook = Annotated[dict, Depends(webhook_from_path)]
Delivery = Annotated[dict, Depends(delivery_from_path)]


# -- costs and budgets ---------------------------------------------------------------------------

@router.get("/projects/{project_id}/costs", response_model=CostReport, operation_id="production-costs")
async def project_costs(project_id: ProjectId, conn: Conn,
                        by: Annotated[Literal["scene", "episode", "character"] | None, Query()] = None):
    spend, rows = await costs.totals(conn, project_id, by)
    return CostReport(project_id=project_id, by=by, project=Spend(**spend.__dict__),
                      rows=[CostRow.model_validate(dict(r)) for r in rows])


@router.get("/projects/{project_id}/budget", response_model=BudgetStatus, operation_id="production-project_budget")
async def project_budget(project_id: ProjectId, conn: Conn):
    return await budgets.status(conn, project_id)


@router.put("/projects/{project_id}/budget", response_model=BudgetStatus, dependencies=[Director],
            operation_id="production-set_project_budget")
async def set_project_budget(project_id: ProjectId, body: BudgetSet, conn: Conn):
    return await service.set_budget(conn, project_id, None, body)


@router.delete("/projects/{project_id}/budget", status_code=204, response_class=Response, dependencies=[Director],
               operation_id="production-delete_project_budget")
async def delete_project_budget(project_id: ProjectId, conn: Conn):
    await service.delete_budget(conn, project_id, None)


@router.get("/episodes/{episode_id}/budget", response_model=BudgetStatus, operation_id="production-episode_budget")
async def episode_budget(episode: Episode, conn: Conn):
    return await budgets.status(conn, episode["project_id"], episode["id"])


@router.put("/episodes/{episode_id}/budget", response_model=BudgetStatus, dependencies=[Director],
            operation_id="production-set_episode_budget")
async def set_episode_budget(episode: Episode, body: BudgetSet, conn: Conn):
    return await service.set_budget(conn, episode["project_id"], episode["id"], body)


@router.delete("/episodes/{episode_id}/budget", status_code=204, response_class=Response, dependencies=[Director],
               operation_id="production-delete_episode_budget")
async def delete_episode_budget(episode: Episode, conn: Conn):
    await service.delete_budget(conn, episode["project_id"], episode["id"])


# -- webhooks (admin: they carry secrets and send data out) ----------------------------------------

@router.get("/projects/{project_id}/webhooks", response_model=Page[WebhookRead], dependencies=[Admin],
            operation_id="production-webhooks")
async def list_webhooks(project_id: ProjectId, conn: Conn, page: Paging):
    rows, total = await queries.list_webhooks(conn, project_id, page.limit, page.offset)
    return Page(items=[WebhookRead.from_row(r) for r in rows], total=total)


@router.post("/projects/{project_id}/webhooks", response_model=WebhookCreated, status_code=201,
             dependencies=[Admin], operation_id="production-create_webhook")
async def create_webhook(project_id: ProjectId, body: WebhookCreate, conn: Conn):
    row = await service.create_webhook(conn, project_id, body)
    return WebhookCreated(**WebhookRead.from_row(row).model_dump(), secret=row["secret"])


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead, dependencies=[Admin],
              operation_id="production-update_webhook")
async def update_webhook(webhook: Webhook, body: WebhookUpdate, conn: Conn):
    return WebhookRead.from_row(await service.update_webhook(conn, webhook, changes(body)))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response, dependencies=[Admin],
               operation_id="production-delete_webhook")
async def delete_webhook(webhook: Webhook, conn: Conn):
    await service.delete_webhook(conn, webhook)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryRead], dependencies=[Admin],
            operation_id="production-deliveries")
async def list_deliveries(webhook: Webhook, conn: Conn, page: Paging):
    rows, total = await queries.list_deliveries(conn, webhook["id"], page.limit, page.offset)
    return Page(items=[DeliveryRead.model_validate(dict(r)) for r in rows], total=total)


@router.post("/webhooks/{webhook_id}/test", response_model=DeliveryRead, status_code=202, dependencies=[Admin],
             operation_id="production-test_webhook")
async def test_webhook(webhook: Webhook, conn: Conn):
    return DeliveryRead.model_validate(dict(await service.send_test(conn, webhook)))


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryRead, status_code=202,
             dependencies=[Admin], operation_id="production-redeliver")
async def redeliver(delivery: Delivery, conn: Conn):
    return DeliveryRead.model_validate(dict(await service.redeliver(conn, delivery)))
