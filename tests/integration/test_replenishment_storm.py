"""Property tests of replenishment's guards under storms: random waves of concurrent approvals,
rejections, checks and finishing generations (each on its own connection, on the real database)
never let replenishment exceed the daily limit, the studio-wide concurrency or the pending buffer.
The guards are checked from the database afterwards, independently of what the checks returned."""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, Phase, given, settings as hyp_settings, strategies as st

from packages.approval import replenish, service
from packages.core.auth import User
from packages.core.errors import DomainError
from tests.factories import make_character, make_project, make_style

CHARACTERS = 3
REVIEWER = User(id=None, name="storm", role="reviewer")
OPS = st.sampled_from(["check", "check", "approve", "reject", "finish", "fail"])
WAVE = st.lists(st.tuples(OPS, st.integers(0, CHARACTERS - 1)), min_size=1, max_size=12)
GUARDS = st.fixed_dictionaries({
    "daily_limit": st.integers(1, 8), "pending_buffer": st.integers(1, 4), "max_concurrent": st.integers(1, 2),
    "batch_size": st.integers(1, 4), "cooldown_s": st.sampled_from([0, 0, 3600]),
    "max_consecutive_rejects": st.integers(1, 5)})


async def _op(app, settings, kind: str, character_id: int, rng: random.Random, folders: dict) -> None:
    async with app.state.pool.acquire() as conn:
        if kind == "check":
            await replenish.check(conn, settings, character_id, trigger="storm")
        elif kind in ("approve", "reject"):
            ids = [r["id"] for r in await conn.fetch(
                "SELECT id FROM images WHERE character_id = $1 AND status = 'pending'", character_id)]
            if ids:
                try:
                    await service.decide(conn, settings, REVIEWER, [rng.choice(ids)],
                                         "approved" if kind == "approve" else "rejected", reason="blur")
                except DomainError:  # decided by another call of the wave
                    pass
        else:  # a generation ends as the engine would end it: its image appears pending in the same instant
            async with conn.transaction():
                gen = await conn.fetchrow(
                    "SELECT id FROM generations WHERE character_id = $1 AND status IN ('queued', 'running') "
                    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", character_id)
                if gen is None:
                    return
                status = "succeeded" if kind == "finish" else "failed"
                await conn.execute("UPDATE generations SET status = $2, finished_at = now() WHERE id = $1",
                                   gen["id"], status)
                if status == "succeeded":
                    await conn.execute(
                        "INSERT INTO images (character_id, generation_id, path, sha256, width, height, source) "
                        "VALUES ($1, $2, $3, $4, 8, 8, 'generated')", character_id, gen["id"],
                        f"{folders[character_id]}/gen{gen['id']}.png", f"storm{gen['id']:059d}")


async def _violations(db, ids: list[int], guards: dict) -> list[str]:
    """Every guard, recomputed from rows: batches, their generations' lifetimes, images and reviews."""
    found = []
    for row in await db.fetch(
            "SELECT character_id, (created_at AT TIME ZONE 'utc')::date AS day, sum(size) AS images "
            "FROM replenishment_batches WHERE character_id = ANY($1::bigint[]) GROUP BY 1, 2", ids):
        if row["images"] > guards["daily_limit"]:
            found.append(f"daily limit: {dict(row)}")
    batches = await db.fetch(
        "SELECT b.id, b.character_id, b.size, b.created_at, b.pending_before, "
        "  CASE WHEN bool_and(g.finished_at IS NOT NULL) THEN max(g.finished_at) END AS ended "
        "FROM replenishment_batches b JOIN generations g ON g.replenishment_batch_id = b.id "
        "WHERE b.character_id = ANY($1::bigint[]) GROUP BY b.id ORDER BY b.created_at", ids)
    for b in batches:
        overlapping = [o for o in batches if o["created_at"] < b["created_at"]
                       and (o["ended"] is None or o["ended"] > b["created_at"])]
        if len(overlapping) >= guards["max_concurrent"]:
            found.append(f"concurrency: batch {b['id']} started with {len(overlapping)} in flight")
        if b["pending_before"] + b["size"] > guards["pending_buffer"]:
            found.append(f"pending buffer (as decided): batch {b['id']}")
        pending = await db.fetchval(
            "SELECT (SELECT count(*) FROM images i WHERE i.character_id = $1 AND i.created_at <= $2 "
            "        AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.image_id = i.id AND r.created_at <= $2)) "
            "     + (SELECT count(*) FROM generations g JOIN replenishment_batches o ON o.id = g.replenishment_batch_id "
            "        WHERE g.character_id = $1 AND o.created_at <= $2 AND (g.finished_at IS NULL OR g.finished_at > $2))",
            b["character_id"], b["created_at"])
        if pending > guards["pending_buffer"]:
            found.append(f"pending buffer: {pending} pending or generating after batch {b['id']}")
    return found


# No shrinking: a failing storm is reported as generated (shrinking one takes minutes on a real database).
@hyp_settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(guards=GUARDS, waves=st.lists(WAVE, min_size=2, max_size=6), seed=st.integers(0, 2**16))
async def test_storms_never_break_the_guards(app, client, db, settings, guards, waves, seed):
    """Whatever the interleaving of concurrent checks, decisions and finishing generations, no
    character gets more than daily_limit images a day, no more than max_concurrent batches are
    ever in flight, and pending + generating images never pass the pending buffer."""
    rng = random.Random(seed)
    await db.execute("UPDATE generations SET status = 'cancelled', finished_at = now() "
                     "WHERE status IN ('queued', 'running')")  # earlier examples' batches are over
    style = await make_style(client, checkpoint="animagine-xl-3.1.safetensors", width=512, height=512)
    project = await make_project(client, default_style_id=style["id"])
    characters = [await make_character(client, project) for _ in range(CHARACTERS)]
    ids = [c["id"] for c in characters]
    folders = {c["id"]: f"datasets/{project['slug']}/{c['slug']}/images" for c in characters}
    r = await client.put("/replenishment/settings", json={"enabled": True, "default_target": 1000, **guards})
    assert r.status_code == 200, r.text
    for wave in waves:
        await asyncio.gather(*(_op(app, settings, kind, ids[index], rng, folders) for kind, index in wave))
    assert await _violations(db, ids, guards) == []
