"""Bench of scene assembly (issue 6): 12 shots x 3 s at 720p with transitions (dissolve, fade,
wipe, and one cut), a dialogue line on every shot and a music bed, assembled by `assemble_scene`
(one encode of the picture, the sound rendered beside it, a stream-copy mux), against the limit:
a plain single-pass encode of the same output length and the same pictures (each clip read up to
where the next one's transition would start, joined with cuts by concat, the music as the audio
track, the same encoder settings, no other filter).
Each is run three times, alternating, and the fastest run of each counts (the CPU time of
the ffmpeg processes is printed too: on a busy machine it is the steadier figure). Goal: ratio <= 1.2.
Last line: JSON {"bench", "value", "goal", "ok"}."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from packages.core.media import ffmpeg_binary  # noqa: E402
from packages.core.settings import Settings  # noqa: E402
from packages.scene_generation.assembly import VIDEO_CODEC, Clip, assemble_scene, timeline  # noqa: E402
from packages.scene_generation.assembly_sound import AUDIO_CODEC, DialogueLine  # noqa: E402

SHOTS, SHOT_S, SIZE, FPS, GOAL, RUNS = 12, 3.0, "1280x720", 24, 1.2, 3
SOURCES = ["testsrc2", "testsrc"]  # a new set-up every 3 shots (hard changes, as between locations)
TRANSITIONS = ["dissolve", "fade", "wipe", "dissolve", "cut", "fade"]


def _make(folder: Path) -> tuple[list[Clip], list[DialogueLine], Path]:
    """12 shots chained frame to frame as the scene builder makes them (shot N+1 starts where shot
    N ends): consecutive pieces of one moving picture, each its own file."""
    ffmpeg = ffmpeg_binary()
    clips = []
    for i in range(SHOTS):
        path = folder / f"shot{i:02d}.mp4"
        source = f"{SOURCES[(i // 3) % len(SOURCES)]}=size={SIZE}:rate={FPS},hue=h=t*20"
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                        "-ss", str(i * SHOT_S), "-t", str(SHOT_S), "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", str(path)], check=True)
        clips.append(Clip(path, SHOT_S, TRANSITIONS[i % len(TRANSITIONS)]))
    voice = folder / "line.wav"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=300:beep_factor=3:duration=1.8", "-ac", "1", "-ar", "22050", str(voice)], check=True)
    music = folder / "music.wav"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=220:duration=40", "-ac", "2", "-ar", "48000", str(music)], check=True)
    plan = timeline(clips)
    dialogue = [DialogueLine(start + 0.2, voice) for start in plan.starts]
    return clips, dialogue, music


def _plain(clips: list[Clip], music: Path, total: float, out: Path) -> None:
    """The limit: decode the same clips once, concatenate, encode the same length once."""
    plan = timeline(clips, FPS)
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y"]
    for index, clip in enumerate(clips):
        following = plan.overlap_frames[index + 1] if index + 1 < len(clips) else 0
        args += ["-t", f"{(plan.frames[index] - following) / FPS:.6f}", "-i", str(clip.path)]
    args += ["-i", str(music)]
    graph = "".join(f"[{i}:v]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=1:a=0[v]"
    codec = [item for key, value in {**VIDEO_CODEC, **AUDIO_CODEC}.items() for item in (f"-{key}", str(value))]
    args += ["-filter_complex", graph, "-map", "[v]", "-map", f"{len(clips)}:a", "-t", f"{total:.6f}",
             *codec, "-movflags", "+faststart", str(out)]
    subprocess.run(args, check=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assembly-") as tmp:
        folder = Path(tmp)
        clips, dialogue, music = _make(folder)
        total = timeline(clips, FPS).duration_s
        settings = Settings(ANIME_STUDIO_HOME=folder, _env_file=None)
        plain, assembled, plain_cpu, assembled_cpu = [], [], [], []
        for run in range(RUNS):
            cpu, started = _children_cpu(), time.perf_counter()
            _plain(clips, music, total, folder / "plain.mp4")
            plain.append(time.perf_counter() - started)
            plain_cpu.append(_children_cpu() - cpu)
            cpu, started = _children_cpu(), time.perf_counter()
            result = asyncio.run(assemble_scene(settings, clips, dialogue, music, folder / "scene.mp4"))
            assembled.append(time.perf_counter() - started)
            assembled_cpu.append(_children_cpu() - cpu)
            print(f"run {run + 1}: plain encode {plain[-1]:.2f} s (cpu {plain_cpu[-1]:.2f} s), assembly "
                  f"{assembled[-1]:.2f} s (cpu {assembled_cpu[-1]:.2f} s), {result.duration_s:.2f} s of scene",
                  flush=True)
        ratio = min(assembled) / min(plain)
        print(f"{SHOTS} shots x {SHOT_S:g} s at {SIZE}, {len(dialogue)} lines and music -> {total:.2f} s: "
              f"assembly {min(assembled):.2f} s vs plain encode {min(plain):.2f} s = {ratio:.3f}x "
              f"(cpu time {min(assembled_cpu) / min(plain_cpu):.3f}x)")
        print(json.dumps({"bench": "assembly", "value": round(ratio, 3), "goal": f"<= {GOAL}", "ok": ratio <= GOAL}))


if __name__ == "__main__":
    main()
