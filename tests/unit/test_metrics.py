"""CPU image metrics (no vision model): sharpness, exposure, contrast, resolution and quality."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from packages.approval.metrics import measure


def _checkerboard(size: int = 600, cell: int = 8) -> Image.Image:
    y, x = np.indices((size, size))
    return Image.fromarray((((x // cell + y // cell) % 2) * 200 + 28).astype(np.uint8), "L")


def test_a_sharp_checkerboard_scores_sharper_than_its_blurred_copy(tmp_path):
    """Blur lowers sharpness (Laplacian variance), and with it quality; the blurred copy is flagged."""
    sharp = _checkerboard()
    sharp.save(tmp_path / "sharp.png")
    sharp.filter(ImageFilter.GaussianBlur(6)).save(tmp_path / "blurred.png")
    a, b = measure(tmp_path / "sharp.png"), measure(tmp_path / "blurred.png")
    assert a.sharpness > 0.9 and b.sharpness < a.sharpness and b.sharpness < 0.3
    assert a.quality > b.quality and "blurry" in b.issues and "blurry" not in a.issues


def test_a_black_image_is_flagged_too_dark(tmp_path):
    """An all-black image has exposure 0 and is 'too dark' (and low contrast, blurry)."""
    Image.new("RGB", (800, 800), (0, 0, 0)).save(tmp_path / "black.png")
    m = measure(tmp_path / "black.png")
    assert m.exposure == 0 and m.dark_clipped == 1 and "too dark" in m.issues and "overexposed" not in m.issues
    assert m.quality < 0.4


def test_a_200px_image_gets_resolution_0_and_a_large_one_1(tmp_path):
    """Resolution comes from the original shorter side: 0 at or below 256 px, 1 from 768 px."""
    _checkerboard(200).save(tmp_path / "small.png")
    _checkerboard(1000).convert("RGB").resize((1000, 800)).save(tmp_path / "large.png")
    small, large = measure(tmp_path / "small.png"), measure(tmp_path / "large.png")
    assert small.resolution == 0 and "low resolution" in small.issues and (small.width, small.height) == (200, 200)
    assert large.resolution == 1 and (large.width, large.height) == (1000, 800)


def test_a_mid_grey_detailed_image_scores_high(tmp_path):
    """A well-exposed, contrasty, detailed, large image has no issues and a quality above the
    auto_approve gate (0.8), which a metrics review still never acts on."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(30, 226, (800, 800), dtype=np.uint8), "L").save(tmp_path / "noise.png")
    m = measure(tmp_path / "noise.png")
    assert m.issues == [] and m.quality > 0.8 and m.scores()["metrics_only"] is True
