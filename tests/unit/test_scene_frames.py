"""Frame extraction for chaining shots: the last frame is the clip's very last frame (also for a
clip too slow to have a frame in the final 0.3 s), the first frame its first."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
from PIL import Image

from packages.core.media import ffmpeg_binary
from packages.scene_generation import frames
from packages.scene_generation.finish import assemble  # noqa: F401  (the job's end imports cleanly)

COLOURS = [(220, 30, 30), (30, 220, 30), (30, 30, 220), (220, 220, 30), (30, 220, 220)]


def clip(path, fps: int, count: int):
    """An mp4 whose frame i is one flat colour, so each frame can be recognised."""
    args = [ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48",
            "-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    data = b"".join(Image.new("RGB", (64, 48), COLOURS[i % len(COLOURS)]).tobytes() for i in range(count))
    subprocess.run(args, input=data, check=True)
    return path


def colour(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("fps, count", [(24, 31), (2, 5)])
def test_last_and_first_frames(tmp_path, fps, count):
    """The extracted last frame has the last frame's colour; the first frame the first's."""
    video = clip(tmp_path / "c.mp4", fps, count)
    last = asyncio.run(frames.last_frame(video, tmp_path / "last.png"))
    first = asyncio.run(frames.first_frame(video, tmp_path / "first.png"))
    assert np.abs(colour(last) - COLOURS[(count - 1) % len(COLOURS)]).max() < 12
    assert np.abs(colour(first) - COLOURS[0]).max() < 12
    assert not (tmp_path / "last.part.png").exists()


def test_an_unreadable_video_is_an_error(tmp_path):
    """A file that is not a video raises ValueError (the attempt records it), leaving no file."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError):
        asyncio.run(frames.last_frame(bad, tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
