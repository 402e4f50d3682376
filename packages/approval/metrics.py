"""CPU image metrics for the review without a vision model: sharpness, exposure, contrast and
resolution, each a 0..1 score, and their weighted mean `quality`. Pure: a path in, numbers out.

Everything is measured with numpy on a grayscale copy downscaled so its longer side is at most
512 px (resolution is taken from the original size):

- sharpness: variance of the 3x3 Laplacian (4-neighbour kernel, luminance in 0..255), mapped with
  `1 - exp(-var / 150)`: a variance of 20 scores 0.12, 100 scores 0.49, 300 scores 0.86.
- exposure: mean luminance m in 0..1; 1 for m within 0.35..0.65 (around mid-grey), falling linearly
  to 0 at m <= 0.05 (black) or m >= 0.95 (white). The fractions of clipped pixels (<= 2 or >= 253 of
  255) are reported and used for the issues, not the score: flat white backgrounds are common in
  character art and are not a defect by themselves.
- contrast: standard deviation of luminance in 0..1, divided by 0.2 and capped at 1.
- resolution: from the shorter side of the original: 0 at or below 256 px, 1 at 768 px or more,
  linear between.
- quality = 0.35 sharpness + 0.25 exposure + 0.2 contrast + 0.2 resolution.

Duplicates are not measured here: near-duplicates are already dropped at ingestion by their
perceptual hash (packages/approval/ingest.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

MAX_SIDE = 512
SHARPNESS_SCALE = 150.0  # Laplacian variance at which sharpness is 1 - 1/e
CONTRAST_FULL = 0.2  # luminance std (0..1) that scores 1
RESOLUTION_MIN, RESOLUTION_FULL = 256, 768
WEIGHTS = {"sharpness": 0.35, "exposure": 0.25, "contrast": 0.2, "resolution": 0.2}

# Issue thresholds (on the scores above, or on the raw measure where said).
BLURRY_BELOW = 0.3  # sharpness (Laplacian variance under ~53)
DARK_MEAN, BRIGHT_MEAN = 0.15, 0.85  # mean luminance
CLIPPED_MOST = 0.5  # more than half of the pixels clipped to black (or white)
LOW_CONTRAST_BELOW = 0.3  # contrast (std under ~0.06)
LOW_RESOLUTION_BELOW = 384  # shorter side in px


@dataclass(frozen=True)
class Metrics:
    sharpness: float
    exposure: float
    contrast: float
    resolution: float
    quality: float
    mean_luminance: float
    dark_clipped: float
    bright_clipped: float
    width: int
    height: int
    issues: list[str] = field(default_factory=list)

    def scores(self) -> dict:
        """What `images.scores` stores for a metrics-only review."""
        return {"quality": self.quality, "sharpness": self.sharpness, "exposure": self.exposure,
                "contrast": self.contrast, "resolution": self.resolution, "metrics_only": True}


def _gray(path: str | Path) -> tuple[np.ndarray, int, int]:
    with Image.open(path) as img:
        width, height = img.size
        img.draft("L", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale directly
        gray = img.convert("L")
    if max(gray.size) > MAX_SIDE:
        gray.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32), width, height


def _exposure(mean: float) -> float:
    off = abs(mean - 0.5)
    return float(min(1.0, max(0.0, 1.0 - (off - 0.15) / 0.3)))


def measure(path: str | Path) -> Metrics:
    """The metrics of the image at `path` (raises OSError / PIL errors for unreadable files)."""
    a, width, height = _gray(path)
    if a.shape[0] >= 3 and a.shape[1] >= 3:
        c = a[1:-1, 1:-1]
        lap = a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * c
        lap_var = float(lap.var())
    else:
        lap_var = 0.0
    sharpness = 1.0 - math.exp(-lap_var / SHARPNESS_SCALE)
    mean = float(a.mean()) / 255.0
    std = float(a.std()) / 255.0
    n = a.size
    dark = float(np.count_nonzero(a <= 2)) / n
    bright = float(np.count_nonzero(a >= 253)) / n
    exposure = _exposure(mean)
    contrast = min(1.0, std / CONTRAST_FULL)
    short = min(width, height)
    resolution = min(1.0, max(0.0, (short - RESOLUTION_MIN) / (RESOLUTION_FULL - RESOLUTION_MIN)))
    values = {"sharpness": sharpness, "exposure": exposure, "contrast": contrast, "resolution": resolution}
    quality = sum(WEIGHTS[k] * v for k, v in values.items())
    issues = []
    if sharpness < BLURRY_BELOW:
        issues.append("blurry")
    if mean < DARK_MEAN or dark > CLIPPED_MOST:
        issues.append("too dark")
    if mean > BRIGHT_MEAN or bright > CLIPPED_MOST:
        issues.append("overexposed")
    if contrast < LOW_CONTRAST_BELOW:
        issues.append("low contrast")
    if short < LOW_RESOLUTION_BELOW:
        issues.append("low resolution")
    r = lambda v: round(float(v), 4)  # noqa: E731
    return Metrics(sharpness=r(sharpness), exposure=r(exposure), contrast=r(contrast), resolution=r(resolution),
                   quality=r(quality), mean_luminance=r(mean), dark_clipped=r(dark), bright_clipped=r(bright),
                   width=width, height=height, issues=issues)
