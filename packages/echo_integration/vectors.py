"""Exact nearest-neighbour search for Qdrant's local mode.

Local mode has no vector index and checks a payload filter in Python point by point: a project
filter over 20k points takes about a second. Local mode is also one process per folder, so the
process that opened it sees every write; this mirror therefore holds each project's vectors in a
numpy matrix (loaded once from the store, then updated by every upsert and delete that memory.py
makes) and answers a search with one matrix-vector product. Qdrant stays the store of record
(payloads, persistence); with QDRANT_URL the server's own index and payload filter are used instead.
"""

from __future__ import annotations

import numpy as np

KIND_CODES = {k: i for i, k in enumerate(("storyline", "world", "character", "scene", "shot", "review", "note"))}


class ProjectVectors:
    """One project's unit vectors, their point ids and kinds; rows packed at the front of `buf`."""

    def __init__(self, dim: int) -> None:
        self.dim, self.n = dim, 0
        self.buf = np.empty((64, dim), np.float32)
        self.kinds = np.empty(64, np.int8)
        self.ids: list[str] = []
        self.row: dict[str, int] = {}

    def put(self, point_id: str, vector, kind: str) -> None:
        v = np.asarray(vector, np.float32)
        v = v / (np.linalg.norm(v) or 1.0)
        at = self.row.get(point_id)
        if at is None:
            if self.n == len(self.buf):  # grow by doubling
                self.buf = np.concatenate([self.buf, np.empty_like(self.buf)])
                self.kinds = np.concatenate([self.kinds, np.empty_like(self.kinds)])
            at, self.n = self.n, self.n + 1
            self.row[point_id] = at
            self.ids.append(point_id)
        self.buf[at], self.kinds[at] = v, KIND_CODES[kind]

    def drop(self, point_id: str) -> None:
        at = self.row.pop(point_id, None)
        if at is None:
            return
        last = self.n - 1
        if at != last:  # the last row fills the hole
            moved = self.ids[last]
            self.buf[at], self.kinds[at], self.ids[at] = self.buf[last], self.kinds[last], moved
            self.row[moved] = at
        self.ids.pop()
        self.n = last

    def top(self, query, limit: int, kinds: set[str] | None = None) -> list[tuple[str, float]]:
        if self.n == 0:
            return []
        q = np.asarray(query, np.float32)
        # einsum, not `@`: a matrix-vector product through BLAS spreads over every core, and on a
        # busy machine waiting for those threads costs more (p95) than one core doing it alone
        scores = np.einsum("ij,j->i", self.buf[: self.n], q / (np.linalg.norm(q) or 1.0))
        if kinds:
            allowed = np.isin(self.kinds[: self.n], [KIND_CODES[k] for k in kinds])
            scores = np.where(allowed, scores, -np.inf)
        k = min(limit, self.n)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [(self.ids[i], float(scores[i])) for i in best if np.isfinite(scores[i])]


class Mirror:
    """Every project's vectors of one local collection."""

    def __init__(self) -> None:
        self.projects: dict[int, ProjectVectors] = {}

    def put(self, project_id: int, point_id: str, vector, kind: str) -> None:
        if project_id not in self.projects:
            self.projects[project_id] = ProjectVectors(len(vector))
        self.projects[project_id].put(point_id, vector, kind)

    def drop(self, project_id: int, point_id: str) -> None:
        if project_id in self.projects:
            self.projects[project_id].drop(point_id)

    def drop_project(self, project_id: int) -> None:
        self.projects.pop(project_id, None)

    def top(self, project_id: int, query, limit: int, kinds: set[str] | None = None) -> list[tuple[str, float]]:
        vectors = self.projects.get(project_id)
        return vectors.top(query, limit, kinds) if vectors else []
