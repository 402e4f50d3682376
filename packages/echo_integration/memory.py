"""The project memory's vector store: Qdrant, in local mode under ANIME_STUDIO_HOME/var/qdrant by
default or the server at QDRANT_URL. One collection per embedder (`memory_<embedder>`, so vectors
of different sizes never mix); each point's payload is project_id, kind, row_id, title, url, text,
and every search filters by project.

Local mode allows one process per folder (Qdrant takes a file lock): the server process opens it
on first use; any other process (a separate worker, a CLI) gets `MemoryUnavailable` saying to set
QDRANT_URL. qdrant-client is imported on first use, never at server start. In local mode searches
run on the process's exact mirror of the vectors (vectors.py: local mode filters in Python, too slow
past a few thousand points); with a server, on Qdrant's index and payload filter.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
import uuid
from typing import Any

from packages.core.errors import DomainError
from packages.core.settings import Settings
from packages.echo_integration.embeddings import embed, embedder_name
from packages.echo_integration.schemas import Source

SNIPPET = 280
NAMESPACE = uuid.UUID("6f1d4c52-8a3e-4f7b-9a51-1c0e7d2b9e44")
_stores: dict[str, Any] = {}
_mirrors: dict[tuple[str, str], Any] = {}  # (location, collection) -> vectors.Mirror, local mode only
SCROLL = 1000


class MemoryUnavailable(DomainError):
    status = 503
    code = "memory_unavailable"


def location(settings: Settings) -> str:
    return settings.qdrant_url or str(settings.var_dir / "qdrant")


def backend(settings: Settings) -> str:
    return "server" if settings.qdrant_url else "local"


def collection(settings: Settings) -> str:
    return "memory_" + re.sub(r"[^a-z0-9]+", "_", embedder_name(settings).lower()).strip("_")


def point_id(project_id: int, kind: str, row_id: int) -> str:
    """A stable id per project row, so an upsert replaces the row's earlier point."""
    return str(uuid.uuid5(NAMESPACE, f"{project_id}:{kind}:{row_id}"))


def client_loaded() -> bool:
    """Whether qdrant_client is imported (then opening a store is quick)."""
    return "qdrant_client" in sys.modules


async def load_client() -> None:
    """Imports qdrant_client off the event loop (seconds of imports the first time)."""
    if not client_loaded():
        await asyncio.to_thread(importlib.import_module, "qdrant_client")


async def store(settings: Settings):
    """The process's client for this settings' location (opened once, on first use)."""
    key = location(settings)
    if key in _stores:
        return _stores[key]
    if not client_loaded():
        await load_client()
        if key in _stores:
            return _stores[key]
    from qdrant_client import AsyncQdrantClient  # no await below: one opening per location

    try:
        if settings.qdrant_url:
            _stores[key] = AsyncQdrantClient(url=settings.qdrant_url, timeout=10)
        else:
            (settings.var_dir / "qdrant").mkdir(parents=True, exist_ok=True)
            _stores[key] = AsyncQdrantClient(path=key)
    except RuntimeError as exc:  # portalocker: the folder is open in another process
        raise MemoryUnavailable(
            f"The memory store {key} is open in another process (Qdrant local mode allows one: the "
            f"server). Set QDRANT_URL to a Qdrant server to share memory across processes.") from exc
    return _stores[key]


async def close_all() -> None:
    _mirrors.clear()
    for key in list(_stores):
        client = _stores.pop(key)
        await client.close()


async def mirror(settings: Settings, client, name: str):
    """Local mode: the collection's vectors by project, loaded from the store on first use (None with a server)."""
    if settings.qdrant_url:
        return None
    key = (location(settings), name)
    if key not in _mirrors:
        from packages.echo_integration.vectors import Mirror

        loaded, offset = Mirror(), None
        while await client.collection_exists(name):
            points, offset = await client.scroll(name, limit=SCROLL, offset=offset, with_vectors=True,
                                                 with_payload=["project_id", "kind"])
            for p in points:
                loaded.put(p.payload["project_id"], str(p.id), p.vector, p.payload["kind"])
            if offset is None:
                break
        _mirrors.setdefault(key, loaded)
    return _mirrors[key]


async def _ensure(client, name: str, size: int) -> None:
    from qdrant_client import models

    if not await client.collection_exists(name):
        await client.create_collection(name, vectors_config=models.VectorParams(size=size,
                                                                                 distance=models.Distance.COSINE))
        if backend_is_server(client):
            for field, schema in (("project_id", models.PayloadSchemaType.INTEGER),
                                  ("kind", models.PayloadSchemaType.KEYWORD)):
                await client.create_payload_index(name, field, field_schema=schema)


def backend_is_server(client) -> bool:
    return type(getattr(client, "_client", None)).__name__ != "AsyncQdrantLocal"


def _project(project_id: int, kinds: set[str] | None = None):
    from qdrant_client import models

    must = [models.FieldCondition(key="project_id", match=models.MatchValue(value=project_id))]
    if kinds:
        must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=sorted(kinds))))
    return models.Filter(must=must)


async def upsert(settings: Settings, project_id: int, docs: list[dict]) -> int:
    """Embeds and stores `docs` (each kind, row_id, title, url, text); returns how many."""
    if not docs:
        return 0
    client, name = await store(settings), collection(settings)  # store() imports the client off the loop
    from qdrant_client import models

    vectors = await embed(settings, [d["text"] for d in docs])
    await _ensure(client, name, len(vectors[0]))
    points = [models.PointStruct(id=point_id(project_id, d["kind"], d["row_id"]), vector=v,
                                 payload={"project_id": project_id, "kind": d["kind"], "row_id": d["row_id"],
                                          "title": d["title"], "url": d["url"], "text": d["text"]})
              for d, v in zip(docs, vectors, strict=True)]
    await client.upsert(name, points=points, wait=True)
    if (local := await mirror(settings, client, name)) is not None:
        for p in points:
            local.put(project_id, p.id, p.vector, p.payload["kind"])
    return len(points)


async def upsert_vectors(settings: Settings, points: list[tuple[str, list[float], dict]]) -> None:
    """Stores ready vectors (id, vector, payload): for benches and bulk loads."""
    client, name = await store(settings), collection(settings)  # store() imports the client off the loop
    from qdrant_client import models

    await _ensure(client, name, len(points[0][1]))
    await client.upsert(name, points=[models.PointStruct(id=i, vector=v, payload=p) for i, v, p in points], wait=True)
    if (local := await mirror(settings, client, name)) is not None:
        for i, v, p in points:
            local.put(p["project_id"], i, v, p["kind"])


async def remove(settings: Settings, project_id: int, keys: list[tuple[str, int]]) -> None:
    if not keys:
        return
    client, name = await store(settings), collection(settings)  # store() imports the client off the loop
    from qdrant_client import models

    if await client.collection_exists(name):
        ids = [point_id(project_id, kind, row_id) for kind, row_id in keys]
        await client.delete(name, points_selector=models.PointIdsList(points=ids), wait=True)
        if (local := await mirror(settings, client, name)) is not None:
            for i in ids:
                local.drop(project_id, i)


async def clear_project(settings: Settings, project_id: int) -> None:
    client, name = await store(settings), collection(settings)  # store() imports the client off the loop
    from qdrant_client import models

    if await client.collection_exists(name):
        await client.delete(name, points_selector=models.FilterSelector(filter=_project(project_id)), wait=True)
        if (local := await mirror(settings, client, name)) is not None:
            local.drop_project(project_id)


async def search_vector(settings: Settings, project_id: int, vector: list[float], *, limit: int = 6,
                        kinds: set[str] | None = None) -> list[Source]:
    client, name = await store(settings), collection(settings)
    if not await client.collection_exists(name):
        return []
    local = await mirror(settings, client, name)
    if local is None:
        found = (await client.query_points(name, query=vector, query_filter=_project(project_id, kinds), limit=limit,
                                           with_payload=True)).points
        scored = [(p.payload, p.score) for p in found]
    else:
        best = local.top(project_id, vector, limit, kinds)
        payloads = {str(p.id): p.payload for p in await client.retrieve(name, ids=[i for i, _ in best],
                                                                        with_payload=True)}
        scored = [(payloads[i], score) for i, score in best if i in payloads]
    return [Source(kind=p["kind"], id=p["row_id"], title=p["title"], snippet=_snippet(p["text"]), url=p["url"],
                   score=round(float(score), 4)) for p, score in scored]


async def search(settings: Settings, project_id: int, query: str, *, limit: int = 6,
                 kinds: set[str] | None = None) -> list[Source]:
    """The project's memory nearest in meaning to `query`, best first."""
    [vector] = await embed(settings, [query])
    return await search_vector(settings, project_id, vector, limit=limit, kinds=kinds)


async def full_text(settings: Settings, project_id: int, sources: list[Source]) -> dict[tuple[str, int], str]:
    """The whole stored text of each source (the snippet is cut for display)."""
    if not sources:
        return {}
    client, name = await store(settings), collection(settings)
    points = await client.retrieve(name, ids=[point_id(project_id, s.kind, s.id) for s in sources], with_payload=True)
    return {(p.payload["kind"], p.payload["row_id"]): p.payload["text"] for p in points}


async def count(settings: Settings) -> int:
    client, name = await store(settings), collection(settings)
    if not await client.collection_exists(name):
        return 0
    return (await client.count(name, exact=True)).count


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1].rstrip() + "…"
