"""The local-mode mirror answers exactly what a brute-force cosine search over the project's
points answers, after inserts, replacements and deletions, and honours the kind filter."""

from __future__ import annotations

import numpy as np

from packages.echo_integration.vectors import Mirror


def brute(points: dict[str, tuple[np.ndarray, str]], query: np.ndarray, k: int, kinds=None) -> list[str]:
    q = query / np.linalg.norm(query)
    scored = [(float(v @ q / np.linalg.norm(v)), pid) for pid, (v, kind) in points.items()
              if not kinds or kind in kinds]
    return [pid for _, pid in sorted(scored, reverse=True)[:k]]


def test_the_mirror_matches_brute_force_through_writes_and_deletes():
    """Top-k ids equal a brute-force search; a replaced point moves; a deleted one is never found;
    another project's points never appear."""
    rng = np.random.default_rng(3)
    mirror, truth = Mirror(), {}
    for i in range(300):  # past several doublings of the buffer
        v, kind = rng.normal(size=16), ("character", "shot", "scene")[i % 3]
        mirror.put(1, f"p{i}", v, kind)
        truth[f"p{i}"] = (v, kind)
        mirror.put(2, f"other{i}", v, kind)
    for i in range(0, 300, 7):  # replace some
        v = rng.normal(size=16)
        mirror.put(1, f"p{i}", v, truth[f"p{i}"][1])
        truth[f"p{i}"] = (v, truth[f"p{i}"][1])
    for i in range(0, 300, 5):  # delete some (swap-remove)
        mirror.drop(1, f"p{i}")
        truth.pop(f"p{i}", None)
    for _ in range(20):
        q = rng.normal(size=16)
        assert [pid for pid, _ in mirror.top(1, q, 8)] == brute(truth, q, 8)
        assert [pid for pid, _ in mirror.top(1, q, 5, {"shot"})] == brute(truth, q, 5, {"shot"})
    assert all(pid.startswith("p") for pid, _ in mirror.top(1, rng.normal(size=16), 400))
    assert len(mirror.top(1, rng.normal(size=16), 400)) == len(truth)
    mirror.drop_project(1)
    assert mirror.top(1, rng.normal(size=16), 3) == [] and mirror.top(9, rng.normal(size=16), 3) == []
