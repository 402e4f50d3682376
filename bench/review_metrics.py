"""Bench of the metrics-only review's pixel work: `measure` over 200 varied 512x512 PNGs
(gradients, noise, blurred copies, dark and bright) on 2 workers, threads vs processes; the
faster is reported. Goal: >= 50 images/s. Last line: JSON {"bench", "value", "goal", "ok"}."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from packages.approval.metrics import measure  # noqa: E402

N, SIZE, WORKERS, GOAL = 200, 512, 2, 50.0


def _images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(7)
    y, x = np.indices((SIZE, SIZE))
    paths = []
    for i in range(N):
        kind = i % 5
        if kind == 0:  # gradient
            arr = np.stack([(x * 255 // SIZE), (y * 255 // SIZE), ((x + y) * 255 // (2 * SIZE))], -1)
        elif kind == 1:  # noise
            arr = rng.integers(0, 256, (SIZE, SIZE, 3))
        elif kind == 2:  # dark
            arr = rng.integers(0, 40, (SIZE, SIZE, 3))
        elif kind == 3:  # bright
            arr = rng.integers(215, 256, (SIZE, SIZE, 3))
        else:  # checkerboard, blurred below
            arr = np.repeat((((x // 16 + y // 16) % 2) * 255)[..., None], 3, -1)
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
        if kind == 4 or i % 7 == 0:
            img = img.filter(ImageFilter.GaussianBlur(1 + i % 5))
        path = folder / f"img{i:03d}.png"
        img.save(path)
        paths.append(path)
    return paths


def _run(executor_cls, paths: list[Path]) -> float:
    with executor_cls(max_workers=WORKERS) as pool:
        list(pool.map(measure, paths[:4]))  # warm up (process start, imports)
        start = time.perf_counter()
        results = list(pool.map(measure, paths, chunksize=8) if executor_cls is ProcessPoolExecutor
                       else pool.map(measure, paths))
        elapsed = time.perf_counter() - start
    assert len(results) == len(paths)
    return len(paths) / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = _images(Path(tmp))
        rates = {"threads": _run(ThreadPoolExecutor, paths), "processes": _run(ProcessPoolExecutor, paths)}
    for name, rate in rates.items():
        print(f"{name} x{WORKERS}: {rate:.1f} images/s")
    best = max(rates, key=rates.get)
    value = round(rates[best], 1)
    print(f"kept: {best}")
    print(json.dumps({"bench": "review_metrics", "value": value, "goal": f">= {GOAL:g}", "ok": value >= GOAL}))


if __name__ == "__main__":
    main()
