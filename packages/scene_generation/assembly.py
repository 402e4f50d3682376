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

How: each shot is cut into head, body and tail; xfade runs only on the pieces of a join (it
copies every frame it passes, so chaining it over whole shots costs a frame copy per shot per
join) and one concat strings the pieces together. Every input file is read once (split when
used twice). The filter graph is built with ffmpeg-python from numbers and whitelisted names
only; paths are input arguments, never part of the graph. ffmpeg runs as an asyncio subprocess
and reports progress (`on_progress`, the fraction done).
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

DEFAULT_TRANSITION_S = 0.3
MAX_TRANSITION_SHARE = 0.4  # of the shorter of the two shots
MUSIC_VOLUME = 0.3
MUSIC_FADE_IN_S = 1.0
MUSIC_FADE_OUT_S = 2.0
LOUDNESS_I = -16.0  # integrated loudness target (LUFS), true peak and range below
LOUDNESS_TP = -1.5
LOUDNESS_LRA = 11.0
SAMPLE_RATE = 48000
DEFAULT_FPS = 24.0
VIDEO_CODEC = {"c:v": "libx264", "preset": "veryfast", "crf": 20, "pix_fmt": "yuv420p"}
AUDIO_CODEC = {"c:a": "aac", "b:a": "192k", "ar": SAMPLE_RATE, "ac": 2}
# Ducking: a hard compressor keyed by the dialogue, blended with the dry music (mix) so the music
# drops by about 8-14 dB under a line (never more than 16.5 dB) and comes back over 0.3 s.
DUCKING = {"threshold": 0.003, "ratio": 20, "attack": 10, "release": 300, "mix": 0.85}

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
class DialogueLine:
    start_s: float
    path: Path


@dataclass
class AssemblyResult:
    path: Path
    duration_s: float


@dataclass(frozen=True)
class Loudness:
    """What the measuring pass found (ebur128): integrated loudness and its gate, range, true peak."""
    i: float
    thresh: float
    lra: float
    tp: float


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


def _sources(paths: list[Path], kind: str, prepare) -> list:
    """One input per distinct file (decoded once), split when several uses share it; `prepare`
    is applied once per file before the split. Returns one stream per entry of `paths`."""
    uses: dict[Path, list[int]] = {}
    for index, path in enumerate(paths):
        uses.setdefault(path.resolve(), []).append(index)
    streams: list = [None] * len(paths)
    for path, indices in uses.items():
        source = prepare(getattr(ffmpeg.input(str(path)), kind))
        if len(indices) == 1:
            streams[indices[0]] = source
        else:
            split = source.filter_multi_output("split" if kind == "video" else "asplit", len(indices))
            for n, index in enumerate(indices):
                streams[index] = split[n]
    return streams


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
    sources = _sources([clip.path for clip in clips], "video", prepare)
    pieces, tail = [], None
    for index, (clip, source) in enumerate(zip(clips, sources)):
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


def _stereo(stream):
    return (stream.filter("aresample", SAMPLE_RATE)
            .filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts="stereo"))


def _mix(dialogue: list[DialogueLine], music: Path | None, music_s: float | None, total: float):
    """The mix before normalisation, and whether it is plain silence."""
    # A silent bed exactly as long as the picture: amix(duration=first) over it fixes the length.
    bed = ffmpeg.input(f"anullsrc=r={SAMPLE_RATE}:cl=stereo", f="lavfi", t=round(total, 6)).audio
    spoken = [line for line in dialogue if line.start_s < total]  # a line after the picture is left out
    with_music = music is not None and bool(music_s)
    sources = _sources([line.path for line in spoken] + ([music] if with_music else []), "audio", _stereo)
    lines = [source.filter("adelay", delays=max(0, round(line.start_s * 1000)), all=1)
             for line, source in zip(spoken, sources)]
    speech = ffmpeg.filter([bed, *lines], "amix", inputs=1 + len(lines), duration="first", normalize=0,
                           dropout_transition=0) if lines else bed
    if not with_music:
        mix = speech
    else:
        length = min(music_s, total)
        fade_in = min(MUSIC_FADE_IN_S, length / 4)
        fade_out = min(MUSIC_FADE_OUT_S, length / 4)
        bed_music = (sources[-1].filter("atrim", end=round(length, 6)).filter("asetpts", "PTS-STARTPTS")
                     .filter("volume", MUSIC_VOLUME)
                     .filter("afade", t="in", st=0, d=round(fade_in, 6))
                     .filter("afade", t="out", st=round(length - fade_out, 6), d=round(fade_out, 6))
                     .filter("apad", whole_dur=round(total, 6)))
        if lines:
            keyed = speech.filter_multi_output("asplit", 2)
            speech, key = keyed[0], keyed[1]
            bed_music = ffmpeg.filter([bed_music, key], "sidechaincompress", **DUCKING)
        mix = ffmpeg.filter([speech, bed_music], "amix", inputs=2, duration="first", normalize=0,
                            dropout_transition=0)
    return mix, not lines and mix is bed


def _sound(dialogue: list[DialogueLine], music: Path | None, music_s: float | None, total: float,
           measured: Loudness | None = None):
    mix, silent = _mix(dialogue, music, music_s, total)
    if silent:
        return mix  # silence has no loudness to normalise (loudnorm would divide by it)
    extra = {}
    if measured is not None:  # two-pass: linear gain at 48 kHz when the measured track allows it
        extra = {"linear": "true", "measured_I": measured.i, "measured_TP": measured.tp,
                 "measured_LRA": measured.lra, "measured_thresh": measured.thresh}
    return (mix.filter("loudnorm", i=LOUDNESS_I, tp=LOUDNESS_TP, lra=LOUDNESS_LRA, **extra)
            .filter("aresample", SAMPLE_RATE)
            .filter("atrim", end=round(total, 6)))


SUMMARY_RE = re.compile(r"Integrated loudness:\s+I:\s+(-?[\d.]+) LUFS\s+Threshold:\s+(-?[\d.]+) LUFS.*?"
                        r"LRA:\s+([\d.]+) LU.*?Peak:\s+(-?[\d.]+) dBFS", re.DOTALL)


async def measure_loudness(clips: list[Clip], dialogue: list[DialogueLine], music: Path | None,
                           music_s: float | None, fps: float, ffmpeg_path: str | None = None) -> Loudness | None:
    """The first of the two loudness passes: the mix alone (audio only, a fraction of a second)
    through ebur128 at 48 kHz. None for silence or anything loudnorm could not take as measured."""
    total = timeline(clips, fps).duration_s
    mix, silent = _mix(dialogue, music, music_s, total)
    if silent:
        return None
    stream = ffmpeg.output(mix.filter("ebur128", peak="true"), "-", f="null")
    args = [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"]
    process = await asyncio.create_subprocess_exec(*args, *ffmpeg.get_args(stream), stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent(background=True))
    _, report = await process.communicate()
    found = SUMMARY_RE.search(report.decode(errors="replace")[-4000:])
    if process.returncode != 0 or not found:
        return None
    value = Loudness(*(float(group) for group in found.groups()))
    if not (-99 < value.i < 0 and -99 < value.thresh < 0 and 0 <= value.lra < 99 and -99 < value.tp < 99):
        return None
    return value


def build_command(clips: list[Clip], dialogue: list[DialogueLine], music: Path | None, out: Path, *,
                  width: int, height: int, fps: float, music_s: float | None = None,
                  ffmpeg_path: str | None = None, measured: Loudness | None = None) -> tuple[list[str], Timeline]:
    """The one ffmpeg command line that assembles the scene into `out`, and its timeline; with
    `measured` (measure_loudness) loudnorm runs its second, linear pass."""
    plan = timeline(clips, fps)
    width, height = max(2, width - width % 2), max(2, height - height % 2)
    picture = _picture(clips, plan, width, height, fps)
    sound = _sound(dialogue, music, music_s, plan.duration_s, measured)
    stream = ffmpeg.output(picture, sound, str(out), t=round(plan.duration_s, 6), movflags="+faststart",
                           **VIDEO_CODEC, **AUDIO_CODEC)
    head = [ffmpeg_binary(ffmpeg_path), "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y"]
    return head + ffmpeg.get_args(stream), plan


async def assemble_scene(settings: Settings, clips: list[Clip], dialogue: list[DialogueLine], music: Path | None,
                         out: Path, *, on_progress: ProgressCallback | None = None) -> AssemblyResult:
    """Assembles the scene into `out` (written atomically) in one ffmpeg pass; see the module doc."""
    for path in [c.path for c in clips] + [d.path for d in dialogue] + ([music] if music else []):
        if not path.is_file():
            raise Invalid(f"{path.name} does not exist", code="missing_media")
    timeline(clips)  # refuses bad input before any work
    first, music_s = await asyncio.gather(
        probe_video(clips[0].path, settings.ffmpeg_binary),
        probe_duration(music, settings.ffmpeg_binary) if music else asyncio.sleep(0, None))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".part" + out.suffix)
    fps = frame_rate(first.fps)
    measured = await measure_loudness(clips, dialogue, music, music_s, fps, settings.ffmpeg_binary)
    args, plan = build_command(clips, dialogue, music, partial, width=first.width, height=first.height,
                               fps=fps, music_s=music_s, ffmpeg_path=settings.ffmpeg_binary, measured=measured)
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent(background=True))
    errors = asyncio.create_task(process.stderr.read())
    try:
        async for raw in process.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit() and on_progress is not None:
                await on_progress(min(1.0, int(value) / 1e6 / plan.duration_s))
        code = await process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        partial.unlink(missing_ok=True)
        raise
    report = (await errors).decode(errors="replace")
    if code != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not assemble the scene: {report[-600:]}")
    partial.replace(out)
    return AssemblyResult(out, round(plan.duration_s, 6))
