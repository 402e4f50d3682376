"""The scene's sound (the audio half of assembly.py's rules): dialogue lines at their starts, the
music bed at 30% with fades, ducked under the dialogue, loudness-normalised in two passes (an
audio-only ebur128 measure, then loudnorm's linear gain at 48 kHz; its dynamic mode only when the
peak or the range needs it), rendered to AAC as long as the picture. Silence stays silence."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from packages.core.media import ffmpeg_binary
from packages.core.procs import dies_with_parent

MUSIC_VOLUME = 0.3
MUSIC_FADE_IN_S = 1.0
MUSIC_FADE_OUT_S = 2.0
LOUDNESS_I = -16.0  # integrated loudness target (LUFS), true peak and range below
LOUDNESS_TP = -1.5
LOUDNESS_LRA = 11.0
SAMPLE_RATE = 48000
AUDIO_CODEC = {"c:a": "aac", "b:a": "192k", "ar": SAMPLE_RATE, "ac": 2}
# Ducking: a hard compressor keyed by the dialogue, blended with the dry music (mix) so the music
# drops by about 8-14 dB under a line (never more than 16.5 dB) and comes back over 0.3 s.
DUCKING = {"threshold": 0.003, "ratio": 20, "attack": 10, "release": 300, "mix": 0.85}
SUMMARY_RE = re.compile(r"Integrated loudness:\s+I:\s+(-?[\d.]+) LUFS\s+Threshold:\s+(-?[\d.]+) LUFS.*?"
                        r"LRA:\s+([\d.]+) LU.*?Peak:\s+(-?[\d.]+) dBFS", re.DOTALL)


@dataclass
class DialogueLine:
    start_s: float
    path: Path


@dataclass(frozen=True)
class Loudness:
    """What the measuring pass found (ebur128): integrated loudness and its gate, range, true peak."""
    i: float
    thresh: float
    lra: float
    tp: float


def sources(paths: list[Path], kind: str, prepare) -> list:
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


def _stereo(stream):
    return (stream.filter("aresample", SAMPLE_RATE)
            .filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts="stereo"))


def _mix(dialogue: list[DialogueLine], music: Path | None, music_s: float | None, total: float):
    """The mix before normalisation, and whether it is plain silence."""
    # A silent bed exactly as long as the picture: amix(duration=first) over it fixes the length.
    bed = ffmpeg.input(f"anullsrc=r={SAMPLE_RATE}:cl=stereo", f="lavfi", t=round(total, 6)).audio
    spoken = [line for line in dialogue if line.start_s < total]  # a line after the picture is left out
    with_music = music is not None and bool(music_s)
    inputs = sources([line.path for line in spoken] + ([music] if with_music else []), "audio", _stereo)
    lines = [source.filter("adelay", delays=max(0, round(line.start_s * 1000)), all=1)
             for line, source in zip(spoken, inputs)]
    speech = ffmpeg.filter([bed, *lines], "amix", inputs=1 + len(lines), duration="first", normalize=0,
                           dropout_transition=0) if lines else bed
    if not with_music:
        mix = speech
    else:
        length = min(music_s, total)
        fade_in = min(MUSIC_FADE_IN_S, length / 4)
        fade_out = min(MUSIC_FADE_OUT_S, length / 4)
        bed_music = (inputs[-1].filter("atrim", end=round(length, 6)).filter("asetpts", "PTS-STARTPTS")
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


async def measure_loudness(dialogue: list[DialogueLine], music: Path | None, music_s: float | None, total: float,
                           ffmpeg_path: str | None = None) -> Loudness | None:
    """The first of the two loudness passes: the mix of a `total`-second scene alone through
    ebur128 at 48 kHz (a fraction of a second). None for silence or anything loudnorm could not
    take as measured."""
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


def sound_command(dialogue: list[DialogueLine], music: Path | None, out: Path, *, total: float,
                  music_s: float | None = None, measured: Loudness | None = None,
                  ffmpeg_path: str | None = None) -> list[str]:
    """The ffmpeg command line that renders the scene's sound alone into `out` (AAC in MP4); with
    `measured` (measure_loudness) loudnorm runs its second, linear pass."""
    sound = _sound(dialogue, music, music_s, total, measured)
    stream = ffmpeg.output(sound, str(out), t=round(total, 6), f="mp4", **AUDIO_CODEC)
    return [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            *ffmpeg.get_args(stream)]
