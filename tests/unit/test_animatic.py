"""The CPU animatic engine: ffmpeg alone moves a camera over a still, starts from the whole still
(so chained shots line up), lasts the asked duration and labels itself as an animatic."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
from PIL import Image

from packages.core.media import ffmpeg_binary, probe_video
from packages.scene_generation import frames
from packages.visual_pipeline import animatic


def _still(path, size=(320, 240)):
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    rgb = np.stack([x, y, (x + y) / 2], axis=-1).astype(np.uint8)
    rgb[h // 3: h // 2, w // 2: w // 2 + 40] = (250, 20, 20)  # a block that moves as the camera moves
    Image.fromarray(rgb).save(path)
    return path


def _array(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize("motion", animatic.MOTIONS)
def test_each_motion_starts_from_the_still_and_moves(tmp_path, motion):
    """Every preset's move begins on the whole still (first frame equals it outside the label) and
    ends somewhere else; the clip lasts the asked duration."""
    still = _still(tmp_path / "still.png")
    out = tmp_path / f"{motion}.mp4"
    asyncio.run(animatic.render(still, out, motion=motion, duration_s=1.5))
    info = asyncio.run(probe_video(out))
    assert (info.width, info.height) == (320, 240)
    assert info.duration_s == pytest.approx(1.5, abs=0.1)
    first = _array(asyncio.run(frames.first_frame(out, tmp_path / "first.png")))
    last = _array(asyncio.run(frames.last_frame(out, tmp_path / "last.png")))
    source = _array(still)
    below_label = slice(60, None)  # the label sits in the top-left corner
    assert np.abs(first[below_label] - source[below_label]).mean() < 4.0
    assert np.abs(last[below_label] - source[below_label]).mean() > 4.0


def test_every_animatic_is_labelled(tmp_path):
    """The picture carries a burnt-in label, and the container's title says ANIMATIC."""
    still = _still(tmp_path / "still.png")
    out = tmp_path / "gen1_00_animatic.mp4"
    asyncio.run(animatic.render(still, out, motion="push-in", duration_s=1.0))
    report = subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "title           : ANIMATIC" in report
    first = _array(asyncio.run(frames.first_frame(out, tmp_path / "first.png")))
    corner = slice(0, 20), slice(0, 60)
    assert np.abs(first[corner] - _array(still)[corner]).mean() > 20  # the label covers the corner


def test_unknown_motion_falls_back_to_push_in_and_sizes_are_even(tmp_path):
    """An odd-sized still still encodes (even sizes for yuv420p); an unknown motion is a push-in."""
    still = _still(tmp_path / "odd.png", size=(301, 199))
    out = tmp_path / "odd.mp4"
    asyncio.run(animatic.render(still, out, motion="spin", duration_s=1.0))
    info = asyncio.run(probe_video(out))
    assert (info.width, info.height) == (300, 198)
    assert animatic.fitted_size(4000, 1000) == (1280, 320)
