"""Bench of episode assembly (issue 7): 10 matching scenes (20 s each, 720p H.264 + AAC stereo)
joined by `packages.episode_assembly.assembly.assemble` (probe every scene, stream copy through the
concat demuxer, faststart, probe the result) against `cp` of the same bytes into a fresh folder.
Each is run three times, alternating, and the fastest run of each counts. Goal: ratio <= 2.
Last line: JSON {"bench", "value", "goal", "ok"}."""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from packages.core.media import ffmpeg_binary  # noqa: E402
from packages.episode_assembly.assembly import assemble  # noqa: E402

SCENES, SCENE_S, SIZE, FPS, GOAL, RUNS = 10, 20, "1280x720", 24, 2.0, 3


def _make(folder: Path) -> list[Path]:
    """One scene encoded, copied to ten files (the same parameters, so stream copy applies)."""
    first = folder / "scene00.mp4"
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration={SCENE_S}",
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={SCENE_S}:sample_rate=48000",
                    "-ac", "2", "-c:a", "aac", "-b:a", "192k", "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "20", "-pix_fmt", "yuv420p", "-shortest", str(first)], check=True)
    scenes = [first]
    for n in range(1, SCENES):
        scenes.append(folder / f"scene{n:02d}.mp4")
        shutil.copyfile(first, scenes[-1])
    return scenes


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg, cp): on a busy machine the
    steadier figure, printed beside the wall-clock ratio the goal is about."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="episode-bench-") as tmp:
        folder = Path(tmp)
        scenes = _make(folder)
        size = sum(p.stat().st_size for p in scenes)
        copied, joined, copied_cpu, joined_cpu = [], [], [], []
        for run in range(RUNS):
            target = folder / f"cp{run}"
            target.mkdir()
            cpu, started = _cpu(), time.perf_counter()
            subprocess.run(["cp", *map(str, scenes), str(target)], check=True)
            copied.append(time.perf_counter() - started)
            copied_cpu.append(_cpu() - cpu)
            shutil.rmtree(target)
            cpu, started = _cpu(), time.perf_counter()
            result = asyncio.run(assemble(scenes, folder / "episode.mp4"))
            joined.append(time.perf_counter() - started)
            joined_cpu.append(_cpu() - cpu)
            assert result.stream_copy, "the bench's scenes match, so assembly must be a stream copy"
            print(f"run {run + 1}: cp {copied[-1]:.3f} s (cpu {copied_cpu[-1]:.3f} s), assembly {joined[-1]:.3f} s "
                  f"(cpu {joined_cpu[-1]:.3f} s) "
                  f"({result.duration_s:.1f} s of episode)", flush=True)
        ratio = min(joined) / min(copied)
        print(f"{SCENES} scenes x {SCENE_S} s at {SIZE}, {size / 1e6:.1f} MB: assembly {min(joined):.3f} s vs "
              f"cp {min(copied):.3f} s = {ratio:.3f}x (cpu time {min(joined_cpu) / max(min(copied_cpu), 1e-3):.3f}x)")
        print(json.dumps({"bench": "episode_concat", "value": round(ratio, 3), "goal": f"<= {GOAL}",
                          "ok": ratio <= GOAL}))


if __name__ == "__main__":
    main()
