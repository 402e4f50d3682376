"""Rules and transactions of the approval domain: human decisions (approve, reject, bulk, undo),
each recorded once as a `reviews` row with its dataset files kept in step, and quality gates.

A decision locks its image rows (`SELECT ... FOR UPDATE`, in id order), so concurrent decisions
on one image are applied one after the other and each is stored exactly once. The caption files and
approval_status.json are written inside the transaction under a per-character lock, so the status
file is always rewritten from a view that includes every committed decision."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import asyncpg

from packages.approval import dataset, events, queries
from packages.approval.schemas import GatesUpdate
from packages.core.auth import User
from packages.core.db import Transaction, transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.settings import Settings

HUMAN = "human"


def _missing(requested: list[int], rows) -> None:
    missing = sorted(set(requested) - {r["id"] for r in rows})
    if missing:
        raise NotFound(f"No image with id {missing[0]}", code="image_not_found")


async def _emit(tx: Transaction, row, *, decision: str, status: str, reason: str | None) -> None:
    ids = {"project_id": row["project_id"], "image_id": row["id"], "character_id": row["character_id"]}
    if status == "approved" and status != row["status"]:
        await tx.emit(events.ImageApproved(**ids, reason=reason))
    elif status == "rejected" and status != row["status"]:
        await tx.emit(events.ImageRejected(**ids, reason=reason))
    await tx.emit(events.FeedbackRecorded(**ids, decision=decision, reason=reason, status=status))


async def decide(conn: asyncpg.Connection, settings: Settings, user: User, image_ids: list[int], decision: str, *,
                 reason: str | None = None, note: str | None = None, caption: str | None = None,
                 skip_decided: bool = False) -> list[int]:
    """Approve or reject images (`decision` is approved|rejected). An image already in that state
    is a 409, or skipped (not recorded again) when `skip_decided` (bulk). All or nothing."""
    ids = sorted(set(image_ids))
    async with transaction(conn) as tx:
        rows = await queries.lock_images(conn, ids)
        _missing(ids, rows)
        changed = []
        for row in rows:
            if row["status"] == decision:
                if skip_decided:
                    continue
                raise Conflict(f"Image {row['id']} is already {decision}", code=f"already_{decision}")
            given = caption if decision == "approved" else None
            await queries.set_status(conn, row["id"], decision, given)
            await queries.insert_review(conn, image_id=row["id"], reviewer=HUMAN, user_name=user.name,
                                        decision=decision, reason=reason, note=note, scores=None,
                                        previous_status=row["status"])
            await _emit(tx, row, decision=decision, status=decision, reason=reason)
            changed.append((row, decision, given))
        await sync_dataset(conn, settings, changed)
    return ids


async def undo(conn: asyncpg.Connection, settings: Settings, user: User, image_id: int) -> None:
    """Reverts the image's last human decision that is not yet undone: its status goes back to
    what it was before, and the caption file with it. Undoing again reverts the decision before."""
    async with transaction(conn) as tx:
        rows = await queries.lock_images(conn, [image_id])
        _missing([image_id], rows)
        row = rows[0]
        last = await queries.last_undoable_decision(conn, image_id)
        if last is None:
            raise Conflict("This image has no decision to undo", code="nothing_to_undo")
        restored = last["previous_status"]
        await queries.set_status(conn, image_id, restored)
        await queries.insert_review(conn, image_id=image_id, reviewer=HUMAN, user_name=user.name, decision="undone",
                                    reason=None, note=None, scores=None, previous_status=row["status"],
                                    undoes_id=last["id"])
        await _emit(tx, row, decision="undone", status=restored, reason=None)
        await sync_dataset(conn, settings, [(row, restored, None)])


async def sync_dataset(conn, settings: Settings, changed: list[tuple]) -> None:
    """For each character touched (in id order): caption files of the changed images, then
    approval_status.json from the table as this transaction sees it."""
    by_character = defaultdict(list)
    for row, status, given in changed:
        by_character[row["character_id"]].append((row, status, given))
    for character_id in sorted(by_character):
        items = by_character[character_id]
        first = items[0][0]
        folder = dataset.dataset_folder(settings, first["project_slug"], first["character_slug"])
        await queries.lock_character_dataset(conn, character_id)
        document = await queries.dataset_status(conn, character_id, first["project_slug"], first["character_slug"],
                                                f"{folder.relative_to(settings.home)}/")
        await asyncio.to_thread(_write_files, settings, folder, items, document)


def _write_files(settings: Settings, folder, items: list[tuple], document: str) -> None:
    for row, status, given in items:
        path = dataset.caption_path(settings, folder, row["path"])
        if path is None:
            continue
        if status == "approved":
            dataset.write_caption(path, dataset.caption_text(given, row["caption"], row["design_prompt"]))
        else:
            dataset.remove_caption(path)
    dataset.write_status(settings, folder, document)


# -- quality gates ----------------------------------------------------------------------------

async def update_gates(conn: asyncpg.Connection, body: GatesUpdate) -> None:
    """Sets the thresholds of the named gates; an unknown name changes nothing (422)."""
    async with transaction(conn):
        known = await queries.gate_names(conn)
        for index, gate in enumerate(body.gates):
            if gate.name not in known:
                raise Invalid(f"No quality gate named '{gate.name}' (known: {', '.join(sorted(known))})",
                              code="unknown_gate", field=f"gates.{index}.name")
        for gate in body.gates:
            await queries.set_gate(conn, gate.name, gate.threshold)
