"""The quality gate of a shot: its last frame scored by the vision review (Ollama, when
OLLAMA_HOST is set) or else the CPU metrics review, against a threshold that falls with each
attempt (0.6, 0.45, 0.3). A score that cannot be had (an unusable answer) never passes."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from packages.approval import metrics, vision
from packages.core.settings import Settings

THRESHOLDS = (0.6, 0.45, 0.3)
MAX_ATTEMPTS = len(THRESHOLDS)


@dataclass(frozen=True)
class FrameScore:
    value: float | None
    reviewer: str  # "vision" | "metrics"
    error: str | None = None


def threshold(attempt: int) -> float:
    return THRESHOLDS[min(max(attempt, 1), MAX_ATTEMPTS) - 1]


def passes(score: float | None, gate: float) -> bool:
    return score is not None and math.isfinite(score) and score >= gate


async def _metrics(frame: Path, note: str | None = None) -> FrameScore:
    measured = await asyncio.to_thread(metrics.measure, frame)
    return FrameScore(measured.quality, "metrics", note)


async def score_frame(settings: Settings, frame: Path, name: str, appearance: dict | None) -> FrameScore:
    """The frame's quality in 0..1 (None when the vision model gave no usable answer)."""
    if not settings.ollama_host:
        return await _metrics(frame)
    check = vision.checklist(name or "the main subject", appearance)
    image = await asyncio.to_thread(vision.encode_image, frame)
    try:
        async with vision.client(settings) as ollama_client:
            review = await vision.ask(ollama_client, settings, check, image)
    except vision.VisionFailed as exc:
        return FrameScore(None, "vision", str(exc))
    except (vision.VisionUnavailable, vision.VisionModelMissing) as exc:  # scored on the CPU instead
        return await _metrics(frame, f"vision review unavailable ({exc.detail}); metrics used")
    return FrameScore(review.quality, "vision")
