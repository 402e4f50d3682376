"""Scene assembly in one ffmpeg pass (DESIGN.md section 6): every shot, joined with xfade
transitions, the dialogue track, the music bed ducked under the dialogue, loudness-normalised.

Rules (each one a test in tests/unit/test_assembly.py):
- The picture decides the length. Shot i lasts `duration_s`; the join into it overlaps the
  previous shot by its transition, capped at 40% of the shorter of the two ("cut": no overlap).
  The output lasts `sum(durations) - sum(overlaps)`, audio included: dialogue running past the
  picture is cut at its end, a line starting after it is left out, and nothing is ever cut to the
  dialogue's length.
- Dialogue lines play at their `start_s` on the scene's timeline (see `timeline()` for where each
  shot starts), at full level.
- Music plays once from the start at 30%, with a fade-in and a fade-out; a track shorter than
  the picture is neither stretched nor looped (its fade-out ends with it and silence follows), a
  longer one is cut at the picture's end (the fade-out ends there). It is ducked under the dialogue
  (sidechaincompress keyed by the dialogue).
- The mix is loudness-normalised to LOUDNESS_I LUFS (EBU R128) in two passes: an audio-only pass
  measures the mix (ebur128, a fraction of a second), then loudnorm applies it as one linear gain
  at 48 kHz; only when that gain would push the true peak over LOUDNESS_TP or the range is wider
  than LOUDNESS_LRA does loudnorm fall back to its dynamic mode (which works at 192 kHz and costs
  about a CPU-second per half minute). The mix is 48 kHz stereo AAC; the picture is H.264 yuv420p
  at the first shot's size and frame rate (shots of another size are fitted inside it, letterboxed). Durations and overlaps are counted in whole
  frames of that rate. Every output has an audio track (silence when there is neither dialogue nor
  music; silence is not normalised), so scenes can be joined by stream copy.

How: the picture and the sound are rendered at once by two ffmpeg processes (the sound's loudness
measure and render run while the picture encodes; assembly_sound.py), then joined by a stream-copy
mux that puts the index in front. In the picture each shot is cut into head, body and tail; xfade
runs only on the pieces of a join (it copies every frame it passes, so chaining it over whole
shots costs a frame copy per shot per join) and one concat strings the pieces together. Every
input file is read once (split when used twice). The filter graphs are built with ffmpeg-python
from numbers and whitelisted names only; paths are input arguments, never part of a graph.
ffmpeg runs as asyncio subprocesses at background priority and reports progress (`on_progress`,
the fraction of the picture done).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from packages.core.errors import Invalid
from packages.core.media import ffmpeg_binary, probe_video
from packages.core.procs import dies_with_parent
from packages.core.settings import Settings
from packages.scene_generation.assembly_sound import DialogueLine, measure_loudness, sound_command, sources

DEFAULT_TRANSITION_S = 0.3
MAX_TRANSITION_SHARE = 0.4  # of the shorter of the two shots
DEFAULT_FPS = 24.0
VIDEO_CODEC = {"c:v": "libx264", "preset": "veryfast", "crf": 20, "pix_fmt": "yuv420p"}

# Studio names and the xfade transitions they mean; ffmpeg's own names are accepted too.
TRANSITIONS = {"dissolve": "fade", "fade": "fadeblack", "wipe": "wipeleft"}
XFADE_NAMES = frozenset({
    "fade", "fadeblack", "fadewhite", "fadegrays", "dissolve", "wipeleft", "wiperight", "wipeup", "wipedown",
    "slideleft", "slideright", "slideup", "slidedown", "smoothleft", "smoothright", "smoothup", "smoothdown",
    "circleopen", "circleclose", "circlecrop", "rectcrop", "radial", "pixelize", "distance", "hblur",
    "vertopen", "vertclose", "horzopen", "horzclose", "diagtl", "diagtr", "diagbl", "diagbr", "zoomin",
})
CUT = "cut"

ProgressCallback = Callable[[float], Awaitable[None]]  # awaited with the fraction done, 0..1


@dataclass
class Clip:
    path: Path
    duration_s: float
    transition: str = "dissolve"  # the join INTO this clip from the previous one; ignored on the first
    transition_s: float = DEFAULT_TRANSITION_S


@dataclass
class AssemblyResult:
    path: Path
    duration_s: float


@dataclass
class Timeline:
    starts: list[float]  # where each clip starts in the output
    overlaps: list[float]  # the overlap of the join into each clip (0 for the first and for cuts)
    xfades: list[str | None]  # the xfade transition of that join (None: first clip or a cut)
    duration_s: float
    frames: list[int] | None = None  # with a frame rate: each clip's frames and each join's overlap
    overlap_frames: list[int] | None = None


def xfade_name(transition: str) -> str | None:
    """The xfade transition for a studio name (None for a cut); unknown names are refused."""
    name = (transition or "").strip().lower()
    if name == CUT:
        return None
    name = TRANSITIONS.get(name, name)
    if name not in XFADE_NAMES:
        raise Invalid(f"Unknown transition {transition!r}: use dissolve, fade, wipe, cut or an ffmpeg xfade name",
                      code="unknown_transition", field="transition")
    return name


def timeline(clips: list[Clip], fps: float | None = None) -> Timeline:
    """Where each clip starts, the capped overlap of each join and the output's length; with `fps`,
    snapped to whole frames as the assembled picture is."""
    if not clips:
        raise Invalid("A scene needs at least one shot to assemble", code="no_shots")
    for clip in clips:
        if not clip.duration_s > 0:
            raise Invalid(f"{clip.path.name} has no duration", code="invalid_duration", field="duration_s")
    unit = 1.0 / fps if fps else None
    lengths = [max(1, round(c.duration_s * fps)) for c in clips] if fps else [c.duration_s for c in clips]
    starts, xfades, joins = [0.0], [None], [0]
    end = lengths[0]
    for index in range(1, len(clips)):
        clip = clips[index]
        name = xfade_name(clip.transition)
        cap = MAX_TRANSITION_SHARE * min(lengths[index - 1], lengths[index])
        overlap = 0
        if name is not None:
            wanted = max(0.0, float(clip.transition_s))
            overlap = min(round(wanted * fps), int(cap)) if fps else min(wanted, cap)
            if overlap <= 0:
                name, overlap = None, 0
        starts.append(end - overlap)
        joins.append(overlap)
        xfades.append(name)
        end += lengths[index] - overlap
    if unit:
        return Timeline([s * unit for s in starts], [j * unit for j in joins], xfades, end * unit, lengths, joins)
    return Timeline(starts, [float(j) for j in joins], xfades, end)


def frame_rate(fps: float | None) -> float:
    """The scene's frame rate from the first shot's (ffmpeg reports 23.98 for 24000/1001)."""
    if not fps or fps <= 0:
        return DEFAULT_FPS
    for exact in (24000 / 1001, 30000 / 1001, 60000 / 1001):
        if abs(fps - exact) < 0.01:
            return exact
    return fps


async def probe_duration(path: Path, ffmpeg_path: str | None = None) -> float:
    """A media file's duration as ffmpeg reports it (there is no ffprobe)."""
    process = await asyncio.create_subprocess_exec(ffmpeg_binary(ffmpeg_path), "-hide_banner", "-i", str(path),
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, **dies_with_parent())
    _, report = await process.communicate()
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", report.decode(errors="replace"))
    if not found:
        raise Invalid(f"{path.name} is not a readable audio or video file", code="unreadable_media")
    h, m, s = found.groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


def _picture(clips: list[Clip], plan: Timeline, width: int, height: int, fps: float):
    """Each shot cut into head, body and tail (by frame numbers); xfade runs only on a join's
    tail and head (it copies every frame it passes, so it never sees a whole shot) and one concat
    strings the pieces together: body 0, join 1, body 1, join 2, ..."""
    def prepare(video):
        return (video.filter("fps", fps=fps)
                .filter("scale", width, height, force_original_aspect_ratio="decrease")
                .filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2")
                .filter("setsar", 1)
                .filter("format", "yuv420p"))

    def piece(stream, first: int, last: int):
        return (stream.filter("trim", start_frame=first, end_frame=last)
                .filter("setpts", "PTS-STARTPTS").filter("settb", "AVTB"))

    frames, joins = plan.frames, plan.overlap_frames + [0]
    inputs = sources([clip.path for clip in clips], "video", prepare)
    pieces, tail = [], None
    for index, (clip, source) in enumerate(zip(clips, inputs)):
        count, head, rest = frames[index], joins[index], joins[index + 1]
        # exactly `count` frames: a file shorter than its duration holds its last frame
        video = source.filter("tpad", stop_mode="clone", stop_duration=clip.duration_s)
        parts = [(0, head)] * (head > 0) + [(head, count - rest)] + [(count - rest, count)] * (rest > 0)
        split = video.filter_multi_output("split", len(parts)) if len(parts) > 1 else None
        streams = [piece(split[n] if split else video, a, b) for n, (a, b) in enumerate(parts)]
        if head > 0:
            pieces.append(ffmpeg.filter([tail, streams.pop(0)], "xfade", transition=plan.xfades[index],
                                        duration=round(head / fps, 6), offset=0))
        pieces.append(streams.pop(0))
        tail = streams.pop(0) if rest > 0 else None
    return ffmpeg.concat(*pieces, v=1, a=0) if len(pieces) > 1 else pieces[0]


def picture_command(clips: list[Clip], out: Path, *, width: int, height: int, fps: float,
                    ffmpeg_path: str | None = None) -> tuple[list[str], Timeline]:
    """The ffmpeg command line that renders the scene's picture alone into `out` (H.264 in MP4,
    progress on stdout), and its timeline."""
    plan = timeline(clips, fps)
    width, height = max(2, width - width % 2), max(2, height - height % 2)
    picture = _picture(clips, plan, width, height, fps)
    stream = ffmpeg.output(picture, str(out), t=round(plan.duration_s, 6), f="mp4", **VIDEO_CODEC)
    head = [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
            "-progress", "pipe:1", "-y"]
    return head + ffmpeg.get_args(stream), plan


def mux_command(video: Path, audio: Path, out: Path, ffmpeg_path: str | None = None) -> list[str]:
    """Picture and sound into one MP4 by stream copy, the index in front (it plays while loading)."""
    return [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
            "-movflags", "+faststart", "-f", "mp4", str(out)]


async def _run(args: list[str], what: str, on_time: ProgressCallback | None = None) -> None:
    """Runs one ffmpeg at background priority; `on_time` gets the seconds of output done (from
    -progress); killed if this is cancelled; a failure raises with ffmpeg's last words."""
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent(background=True))
    errors = asyncio.create_task(process.stderr.read())
    try:
        async for raw in process.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit() and on_time is not None:
                await on_time(int(value) / 1e6)
        code = await process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        errors.cancel()
        raise
    report = (await errors).decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"ffmpeg could not {what}: {report[-600:]}")


async def assemble_scene(settings: Settings, clips: list[Clip], dialogue: list[DialogueLine], music: Path | None,
                         out: Path, *, on_progress: ProgressCallback | None = None) -> AssemblyResult:
    """Assembles the scene into `out` (written atomically); see the module doc."""
    for path in [c.path for c in clips] + [d.path for d in dialogue] + ([music] if music else []):
        if not path.is_file():
            raise Invalid(f"{path.name} does not exist", code="missing_media")
    timeline(clips)  # refuses bad input before any work
    binary = settings.ffmpeg_binary
    first, music_s = await asyncio.gather(
        probe_video(clips[0].path, binary),
        probe_duration(music, binary) if music else asyncio.sleep(0, None))
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = {kind: out.with_name(f"{out.stem}.part-{kind}.mp4") for kind in ("video", "audio", "scene")}
    fps = frame_rate(first.fps)
    picture, plan = picture_command(clips, parts["video"], width=first.width, height=first.height, fps=fps,
                                    ffmpeg_path=binary)

    async def progress(seconds: float) -> None:
        if on_progress is not None:
            await on_progress(min(1.0, seconds / plan.duration_s))

    async def sound() -> None:
        measured = await measure_loudness(dialogue, music, music_s, plan.duration_s, binary)
        await _run(sound_command(dialogue, music, parts["audio"], total=plan.duration_s, music_s=music_s,
                                 measured=measured, ffmpeg_path=binary), "mix the scene's sound")

    try:
        async with asyncio.TaskGroup() as both:  # one failing stops the other
            both.create_task(_run(picture, "assemble the scene's picture", progress))
            both.create_task(sound())
        await _run(mux_command(parts["video"], parts["audio"], parts["scene"], binary), "join picture and sound")
        parts["scene"].replace(out)
    except BaseExceptionGroup as group:  # the first failure says why
        raise group.exceptions[0] from None
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return AssemblyResult(out, round(plan.duration_s, 6))
