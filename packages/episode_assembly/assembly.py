"""Episode assembly (DESIGN.md section 6): the scenes' videos in order, joined by stream copy
through ffmpeg's concat demuxer when every stream matches, otherwise in ONE normalising re-encode.

- Probing reads what `ffmpeg -i` reports (there is no ffprobe and no PyAV): video codec, profile,
  pixel format, size, frame rate and time base; audio codec, sample rate and channel layout.
- Stream copy: every scene has the same video parameters, the same audio parameters (or none has
  audio), the codecs are ones an mp4 player reads (H.264/HEVC, AAC) and no fade is asked for. When
  the scenes are plain mp4 files with identical sample descriptions, mp4join writes the episode
  itself: a joined moov in front, then the scenes' media copied by the kernel (as fast as `cp`).
  Otherwise the concat demuxer copies: with the same decoder configuration everywhere (avcC/hvcC
  box, read from the moov box) the packets go through untouched, else each scene's SPS/PPS is
  carried in-band; the moov is written into space reserved at the front (no second rewrite).
- Re-encode: H.264 yuv420p at the first scene's size (others fitted inside, letterboxed) and frame
  rate, 48 kHz stereo AAC; a scene without audio gets silence (anullsrc) of its length, so every
  scene's sound stays in step with its picture. `fade_s` > 0 fades to black (and silence) at the
  end of each scene and back in at the start of the next.
- The thumbnail is ffmpeg's `thumbnail` filter (the most representative frame of a batch) from a
  third of the way in, as a JPEG.
The filter graph is built with ffmpeg-python from numbers only; paths are input arguments and the
concat list is written with the demuxer's quoting. Output is written atomically (`.part`)."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from packages.core.errors import Invalid
from packages.core.media import ffmpeg_binary
from packages.episode_assembly import mp4join
from packages.core.procs import dies_with_parent

SAMPLE_RATE = 48000
VIDEO_CODEC = {"c:v": "libx264", "preset": "veryfast", "crf": 20, "pix_fmt": "yuv420p"}
AUDIO_CODEC = {"c:a": "aac", "b:a": "192k", "ar": SAMPLE_RATE, "ac": 2}
COPYABLE_VIDEO = frozenset({"h264", "hevc"})
COPYABLE_AUDIO = frozenset({"aac"})
THUMB_WIDTH = 640
ProgressCallback = Callable[[float, str], Awaitable[None]]  # fraction done (0..1), step


@dataclass(frozen=True)
class AudioParams:
    codec: str
    rate: int
    layout: str


@dataclass(frozen=True)
class StreamParams:
    codec: str
    profile: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    tbn: str
    audio: AudioParams | None


@dataclass
class Probe:
    path: Path
    duration_s: float
    params: StreamParams


@dataclass
class Result:
    path: Path
    duration_s: float
    stream_copy: bool


VIDEO_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+)(?: \(([^)]*)\))?.*?, (\w+)(?:\([^)]*\))?, (\d{2,5})x(\d{2,5})")
AUDIO_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+).*?, (\d+) Hz, ([\w.()]+)")


async def _ffmpeg(args: list[str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent(background=True))
    _, stderr = await process.communicate()
    return process.returncode, stderr.decode(errors="replace")


def parse_report(path: Path, report: str) -> Probe:
    """What `ffmpeg -i` says of a file: its duration and the parameters that decide stream copy."""
    video = VIDEO_RE.search(report)
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", report)
    if not video or not duration:
        raise Invalid(f"{path.name} is not a readable video", code="unreadable_media")
    line = report[video.start():report.find("\n", video.start())]
    fps = re.search(r"(\d+(?:\.\d+)?)(k?) fps", line) or re.search(r"(\d+(?:\.\d+)?)(k?) tbr", line)
    tbn = re.search(r"(\d+(?:\.\d+)?k?) tbn", line)
    audio = AUDIO_RE.search(report)
    h, m, s = duration.groups()
    return Probe(path, int(h) * 3600 + int(m) * 60 + float(s), StreamParams(
        codec=video.group(1), profile=video.group(2) or "", pix_fmt=video.group(3),
        width=int(video.group(4)), height=int(video.group(5)),
        fps=float(fps.group(1)) * (1000 if fps.group(2) else 1) if fps else 0.0, tbn=tbn.group(1) if tbn else "",
        audio=AudioParams(audio.group(1), int(audio.group(2)), audio.group(3)) if audio else None))


async def probe(path: Path, ffmpeg_path: str | None = None) -> Probe:
    _, report = await _ffmpeg([ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-i", str(path)])
    return parse_report(path, report)


async def probe_many(paths: list[Path], ffmpeg_path: str | None = None) -> list[Probe]:
    """Every file probed by ONE ffmpeg process (`-i a -i b ...` reports each input in order), so a
    long episode does not start an ffmpeg per scene. A file ffmpeg cannot open is named in the error."""
    args = [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner"]
    for path in paths:
        args += ["-i", str(path)]
    _, report = await _ffmpeg(args)
    sections = re.split(r"^Input #\d+, ", report, flags=re.MULTILINE)[1:]
    if len(sections) != len(paths):
        bad = paths[len(sections)] if len(sections) < len(paths) else paths[-1]
        raise Invalid(f"{bad.name} is not a readable video", code="unreadable_media")
    return [parse_report(path, section) for path, section in zip(paths, sections)]


def can_stream_copy(probes: list[Probe], fade_s: float = 0.0) -> bool:
    first = probes[0].params
    return (fade_s <= 0 and first.codec in COPYABLE_VIDEO
            and (first.audio is None or first.audio.codec in COPYABLE_AUDIO)
            and all(p.params == first for p in probes))


def _boxes(fh, start: int, end: int):
    """(type, payload start, payload end) of each ISO-BMFF box between `start` and `end`."""
    position = start
    while position + 8 <= end:
        fh.seek(position)
        header = fh.read(8)
        if len(header) < 8:
            return
        size, kind = int.from_bytes(header[:4], "big"), header[4:]
        head = 8
        if size == 1:
            size, head = int.from_bytes(fh.read(8), "big"), 16
        elif size == 0:
            size = end - position
        if size < head:
            return
        yield kind, position + head, min(position + size, end)
        position += size


def _moov(path: Path) -> bytes | None:
    """The payload of a file's moov box (its sample tables), read without reading the media."""
    with open(path, "rb") as fh:
        end = fh.seek(0, 2)
        moov = next(((a, b) for kind, a, b in _boxes(fh, 0, end) if kind == b"moov"), None)
        if moov is None or moov[1] - moov[0] > 64 << 20:
            return None
        fh.seek(moov[0])
        return fh.read(moov[1] - moov[0])


def codec_config(path: Path, data: bytes | None = None) -> bytes | None:
    """The video's decoder configuration (the avcC / hvcC box of its mp4 sample description), read
    from the moov box without reading the media; None when it cannot be found."""
    data = _moov(path) if data is None else data
    for name in (b"avcC", b"hvcC"):
        at = data.find(name) if data else -1
        if at >= 4:
            size = int.from_bytes(data[at - 4:at], "big")
            return data[at - 4:at - 4 + size]
    return None


def same_codec_config(paths: list[Path], moovs: list[bytes | None] | None = None) -> bool:
    """Every scene has the first one's decoder configuration (SPS/PPS), so packets can be copied
    as they are (no Annex B round trip in the concat demuxer)."""
    moovs = moovs or [_moov(p) for p in paths]
    first = codec_config(paths[0], moovs[0])
    return first is not None and all(codec_config(p, m) == first for p, m in zip(paths[1:], moovs[1:]))


def copy_plan(paths: list[Path]) -> tuple[bool, int]:
    """same_codec_config, and the space to reserve for the joined moov box: its tables are the
    scenes' tables joined, so twice their sum (32-bit chunk offsets may become 64-bit) plus 64 KiB."""
    moovs = [_moov(p) for p in paths]
    return same_codec_config(paths, moovs), 2 * sum(len(m or b"") for m in moovs) + (64 << 10)


def concat_list(paths: list[Path]) -> str:
    """The concat demuxer's list: one quoted `file` line per input (a ' is written '\\'')."""
    return "".join("file '{}'\n".format(str(p.resolve()).replace("'", "'\\''")) for p in paths)


def copy_command(list_file: Path, out: Path, ffmpeg_path: str | None = None, *, same_config: bool = False,
                 moov_size: int = 0) -> list[str]:
    """The stream-copy join. With `same_config` (every scene has the same SPS/PPS) the concat
    demuxer's automatic Annex B conversion is off: packets go through untouched (half the CPU).
    With `moov_size` the moov box is written into that much space reserved at the front (the file
    is written once); without, +faststart moves it there by rewriting the whole file."""
    convert = ["-auto_convert", "0"] if same_config else []
    front = ["-moov_size", str(moov_size)] if moov_size > 0 else ["-movflags", "+faststart"]
    return [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
            "-progress", "pipe:1", "-y", "-f", "concat", "-safe", "0", *convert, "-i", str(list_file),
            "-map", "0", "-c", "copy", *front, str(out)]


def _even(n: int) -> int:
    return max(2, n - n % 2)


def encode_command(probes: list[Probe], out: Path, *, fade_s: float = 0.0,
                   ffmpeg_path: str | None = None) -> list[str]:
    """One ffmpeg pass that normalises every scene to the first one's size and frame rate, 48 kHz
    stereo, and concatenates them (fading to black between scenes when `fade_s` > 0)."""
    first = probes[0].params
    width, height, fps = _even(first.width), _even(first.height), first.fps or 24.0
    pieces = []
    last = len(probes) - 1
    for index, item in enumerate(probes):
        d = round(item.duration_s, 6)
        source = ffmpeg.input(str(item.path))
        video = (source.video.filter("fps", fps=fps)
                 .filter("scale", width, height, force_original_aspect_ratio="decrease")
                 .filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2")
                 .filter("setsar", 1).filter("format", "yuv420p")
                 .filter("tpad", stop_mode="clone", stop_duration=d)
                 .filter("trim", duration=d).filter("setpts", "PTS-STARTPTS"))
        if item.params.audio is not None:
            audio = (source.audio.filter("aresample", SAMPLE_RATE)
                     .filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts="stereo")
                     .filter("apad").filter("atrim", duration=d).filter("asetpts", "PTS-STARTPTS"))
        else:  # silence as long as the picture
            audio = ffmpeg.input(f"anullsrc=r={SAMPLE_RATE}:cl=stereo", f="lavfi", t=d).audio
        fade = min(float(fade_s), d / 2)
        if fade > 0:
            if index > 0:
                video = video.filter("fade", t="in", st=0, d=round(fade, 6))
                audio = audio.filter("afade", t="in", st=0, d=round(fade, 6))
            if index < last:
                video = video.filter("fade", t="out", st=round(d - fade, 6), d=round(fade, 6))
                audio = audio.filter("afade", t="out", st=round(d - fade, 6), d=round(fade, 6))
        pieces += [video, audio]
    joined = ffmpeg.concat(*pieces, v=1, a=1).node
    stream = ffmpeg.output(joined[0], joined[1], str(out), movflags="+faststart", **VIDEO_CODEC, **AUDIO_CODEC)
    head = [ffmpeg_binary(ffmpeg_path), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-progress",
            "pipe:1", "-y"]
    return head + ffmpeg.get_args(stream)


async def _run(args: list[str], total_s: float, step: str, on_progress: ProgressCallback | None) -> None:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent(background=True))
    errors = asyncio.create_task(process.stderr.read())
    try:
        async for raw in process.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit() and on_progress is not None and total_s > 0:
                await on_progress(min(1.0, int(value) / 1e6 / total_s), step)
        code = await process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    report = (await errors).decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"ffmpeg could not {step}: {report[-600:]}")


async def assemble(paths: list[Path], out: Path, *, fade_s: float = 0.0, ffmpeg_path: str | None = None,
                   on_progress: ProgressCallback | None = None) -> Result:
    """Joins `paths` in order into `out` (see the module doc); returns its duration and whether it
    was a stream copy."""
    if not paths:
        raise Invalid("An episode needs at least one scene to assemble", code="no_scenes")
    for path in paths:
        if not path.is_file():
            raise Invalid(f"{path.name} does not exist", code="missing_media")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".part" + out.suffix)
    # mp4join's plan checks what the probe would (codecs, sample descriptions, timescales, rate)
    joined = await asyncio.to_thread(mp4join.plan, paths) if fade_s <= 0 else None
    if joined is not None:  # the scenes' media bytes copied by the kernel, a new moov in front
        loop = asyncio.get_running_loop()

        def copied(done: int, size: int) -> None:
            if on_progress is not None:
                asyncio.run_coroutine_threadsafe(on_progress(done / size, "join the scenes"), loop).result()
        try:
            await asyncio.to_thread(mp4join.write, joined, partial, copied)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(out)
        return Result(out, round(joined.duration_s, 3), True)
    probes = await probe_many(paths, ffmpeg_path)
    total = sum(p.duration_s for p in probes)
    copy = can_stream_copy(probes, fade_s)
    try:
        if copy:
            with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
                listing = Path(scratch) / "scenes.txt"
                listing.write_text(concat_list(paths), encoding="utf-8")
                same, reserve = await asyncio.to_thread(copy_plan, paths)
                try:
                    await _run(copy_command(listing, partial, ffmpeg_path, same_config=same, moov_size=reserve),
                               total, "join the scenes", on_progress)
                except RuntimeError:  # the reservation was short after all: the two-write way
                    await _run(copy_command(listing, partial, ffmpeg_path, same_config=same), total,
                               "join the scenes", on_progress)
        else:
            await _run(encode_command(probes, partial, fade_s=fade_s, ffmpeg_path=ffmpeg_path), total,
                       "re-encode the scenes", on_progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    duration = total if copy else (await probe(out, ffmpeg_path)).duration_s  # a copy lasts what its parts do
    return Result(out, round(duration, 3), copy)


async def thumbnail(video: Path, dest: Path, duration_s: float, ffmpeg_path: str | None = None) -> None:
    """A JPEG of the most representative frame near a third of the way in (written atomically)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.stem + ".part.jpg")
    start = max(0.0, duration_s / 3 - 1.0)
    code, report = await _ffmpeg([ffmpeg_binary(ffmpeg_path), "-hide_banner", "-loglevel", "error", "-y",
                                  "-ss", f"{start:.3f}", "-i", str(video), "-an", "-frames:v", "1",
                                  "-vf", f"thumbnail=48,scale='min({THUMB_WIDTH},iw)':-2", "-q:v", "3",
                                  str(partial)])
    if code != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"could not take a thumbnail of {video.name}: {report[-300:]}")
    partial.replace(dest)
