"""Scene assembly (packages/scene_generation/assembly.py and assembly_sound.py) on real ffmpeg with clips and tones made
here: the output lasts as long as the picture (sum of shots minus capped overlaps), never as long
as the dialogue; transitions blend and are capped; dialogue sits at its start; music is at 30%,
faded, not stretched and ducked under dialogue; the mix is loudness-normalised."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from packages.core.errors import Invalid
from packages.core.media import ffmpeg_binary
from packages.core.settings import Settings
from packages.scene_generation.assembly import Clip, assemble_scene, picture_command, timeline
from packages.scene_generation.assembly_sound import LOUDNESS_I, DialogueLine, measure_loudness, sound_command

FPS = 24
FRAME = 1 / FPS
FF = ffmpeg_binary()


def ff(*args: str) -> str:
    done = subprocess.run([FF, "-hide_banner", "-nostats", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stderr


def make_clip(path: Path, seconds: float, color: str | None = None, size: str = "320x180") -> Path:
    source = f"color=c={color}:size={size}:rate={FPS}" if color else f"testsrc=size={size}:rate={FPS}"
    ff("-y", "-f", "lavfi", "-i", source, "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
       "-pix_fmt", "yuv420p", str(path))
    return path


def make_tone(path: Path, seconds: float, frequency: float, volume: float = 0.5, rate: int = 22050) -> Path:
    ff("-y", "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate={rate}",
       "-af", f"volume={volume}", "-ac", "1", str(path))
    return path


def stream_seconds(path: Path, stream: str) -> float:
    """How long a stream really lasts: decoded to the end, ffmpeg's last time= is its length."""
    report = subprocess.run([FF, "-hide_banner", "-i", str(path), "-map", f"0:{stream}", "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", report)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def frame_count(path: Path) -> int:
    report = subprocess.run([FF, "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    return int(re.findall(r"frame=\s*(\d+)", report)[-1])


def band_level(path: Path, frequency: float, start: float, seconds: float) -> float:
    """RMS level (dBFS) of the output's audio near `frequency` between start and start + seconds."""
    report = ff("-ss", str(start), "-t", str(seconds), "-i", str(path), "-af",
                f"bandpass=f={frequency}:width_type=q:w=4,astats=measure_overall=RMS_level:measure_perchannel=none",
                "-f", "null", "-")
    value = re.findall(r"RMS level dB: (-?inf|-?[\d.]+)", report)[-1]
    return float("-inf") if "inf" in value else float(value)


def pixel(path: Path, at: float) -> tuple[int, int, int]:
    """The RGB of the middle pixel of the frame shown at `at` seconds."""
    raw = subprocess.run([FF, "-hide_banner", "-loglevel", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1",
                          "-vf", "crop=2:2:iw/2:ih/2,scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True).stdout
    return raw[0], raw[1], raw[2]


@pytest.fixture
def studio(tmp_path) -> Settings:
    return Settings(ANIME_STUDIO_HOME=tmp_path, _env_file=None)


@pytest.fixture
def media(tmp_path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


def test_timeline_caps_transitions_and_cuts_do_not_overlap():
    """A join overlaps by its transition, capped at 40% of the shorter shot; a cut never overlaps;
    the length is the sum of the shots minus the overlaps."""
    clips = [Clip(Path("a.mp4"), 3.0), Clip(Path("b.mp4"), 1.0, "dissolve", 2.0), Clip(Path("c.mp4"), 2.0, "cut", 0.5),
             Clip(Path("d.mp4"), 2.0, "wipe")]
    plan = timeline(clips)
    assert plan.overlaps == pytest.approx([0.0, 0.4, 0.0, 0.3])
    assert plan.starts == pytest.approx([0.0, 2.6, 3.6, 5.3])
    assert plan.duration_s == pytest.approx(8.0 - 0.7)
    assert plan.xfades == [None, "fade", None, "wipeleft"]
    framed = timeline(clips, FPS)  # whole frames: 0.3 s at 24 fps is 7 frames
    assert framed.overlap_frames == [0, 9, 0, 7] and framed.duration_s == pytest.approx((192 - 16) / FPS)


async def test_bad_input_is_refused_before_any_work(studio, media):
    """No shots, an unknown transition, a zero duration or a missing file: a clear Invalid, no output."""
    clip = make_clip(media / "a.mp4", 1)
    out = media / "out.mp4"
    for clips, code in [([], "no_shots"), ([Clip(clip, 1), Clip(clip, 1, "spin-o-rama")], "unknown_transition"),
                        ([Clip(clip, 0)], "invalid_duration"), ([Clip(media / "nope.mp4", 1)], "missing_media")]:
        with pytest.raises(Invalid) as refused:
            await assemble_scene(studio, clips, [], None, out)
        assert refused.value.code == code
    assert not out.exists()


async def test_a_failing_encode_says_why_and_leaves_nothing_behind(studio, media):
    """A shot that is no video fails the picture while the sound renders beside it: the error
    carries ffmpeg's words, the sound's process is stopped, and neither output nor parts remain."""
    broken = media / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    line = make_tone(media / "line.wav", 1, 600)
    with pytest.raises(RuntimeError, match="could not assemble the scene's picture"):
        await assemble_scene(studio, [Clip(make_clip(media / "a.mp4", 1), 1), Clip(broken, 1)],
                             [DialogueLine(0.2, line)], line, media / "out.mp4")
    assert sorted(p.name for p in media.iterdir()) == ["a.mp4", "broken.mp4", "line.wav"]


async def test_output_lasts_as_long_as_the_picture(studio, media):
    """Three shots joined by a dissolve and a cut, a short line of dialogue: the video has exactly
    sum(frames) - overlap frames, and the audio lasts as long as the picture (not the line)."""
    clips = [Clip(make_clip(media / "a.mp4", 2), 2), Clip(make_clip(media / "b.mp4", 2), 2, "dissolve", 0.5),
             Clip(make_clip(media / "c.mp4", 1.5), 1.5, "cut")]
    line = make_tone(media / "line.wav", 0.6, 1000)
    progress: list[float] = []

    async def seen(fraction: float) -> None:
        progress.append(fraction)

    result = await assemble_scene(studio, clips, [DialogueLine(0.5, line)], None, media / "scene.mp4",
                                  on_progress=seen)
    assert progress and progress == sorted(progress) and progress[-1] > 0.9
    assert result.duration_s == pytest.approx(5.0, abs=FRAME)
    assert frame_count(result.path) == 48 + 48 + 36 - 12
    assert stream_seconds(result.path, "v") == pytest.approx(5.0, abs=FRAME)
    assert stream_seconds(result.path, "a") == pytest.approx(5.0, abs=FRAME)
    assert band_level(result.path, 1000, 0.6, 0.4) > -40  # the line is there, at its start
    assert band_level(result.path, 1000, 3.0, 1.0) < -60  # and nowhere else


async def test_dialogue_past_the_picture_is_cut_at_its_end(studio, media):
    """A line running 3 s past the last frame ends with the picture, and a line starting after it
    is left out: the scene never grows to the dialogue's length."""
    clips = [Clip(make_clip(media / "a.mp4", 2), 2), Clip(make_clip(media / "b.mp4", 2), 2, "fade")]
    long_line = make_tone(media / "long.wav", 4, 1000)
    late = make_tone(media / "late.wav", 1, 700)
    result = await assemble_scene(studio, clips, [DialogueLine(0.5, long_line), DialogueLine(5.0, late)], None,
                                  media / "scene.mp4")
    picture = 4.0 - 0.3
    assert result.duration_s == pytest.approx(picture, abs=FRAME)
    assert stream_seconds(result.path, "a") == pytest.approx(picture, abs=FRAME)
    assert stream_seconds(result.path, "v") == pytest.approx(picture, abs=FRAME)
    assert band_level(result.path, 1000, picture - 0.8, 0.5) > -40  # still speaking at the end


async def test_transitions_blend_and_are_capped(studio, media):
    """A dissolve from red to blue shows a mix of both midway through the overlap; a 2 s dissolve
    into a 1 s shot is capped at 0.4 s (40% of the shorter shot)."""
    red, blue = make_clip(media / "red.mp4", 2, "red"), make_clip(media / "blue.mp4", 1, "blue")
    result = await assemble_scene(studio, [Clip(red, 2), Clip(blue, 1, "dissolve", 2.0)], [], None,
                                  media / "scene.mp4")
    assert result.duration_s == pytest.approx(2.6, abs=FRAME)
    assert frame_count(result.path) == 48 + 24 - 9  # 40% of 24 frames, in whole frames
    r, _, b = pixel(result.path, (39 + 4.5) / FPS)  # the middle of the 9-frame overlap from frame 39
    assert 60 < r < 200 and 60 < b < 200
    assert pixel(result.path, 0.5)[0] > 200 and pixel(result.path, 2.4)[2] > 200  # red before, blue after


async def test_a_cut_has_no_overlap(studio, media):
    """A cut joins the shots end to start: the length is the plain sum and the colour switches at once."""
    red, blue = make_clip(media / "red.mp4", 1, "red"), make_clip(media / "blue.mp4", 1, "blue")
    result = await assemble_scene(studio, [Clip(red, 1), Clip(blue, 1, "cut")], [], None, media / "scene.mp4")
    assert frame_count(result.path) == 48
    assert pixel(result.path, 1 - 1.5 * FRAME)[0] > 200 and pixel(result.path, 1 + 1.5 * FRAME)[2] > 200


async def test_a_short_clip_holds_its_last_frame(studio, media):
    """A file shorter than its declared duration is padded with its last frame, so the timeline
    (and every later transition's offset) holds."""
    short = make_clip(media / "short.mp4", 1, "green")
    result = await assemble_scene(studio, [Clip(short, 2), Clip(make_clip(media / "b.mp4", 1, "blue"), 1, "cut")],
                                  [], None, media / "scene.mp4")
    assert frame_count(result.path) == 72
    assert pixel(result.path, 1.8)[1] > 100  # still green after the file ran out


async def test_music_is_faded_not_stretched_and_ducked(studio, media):
    """Music at 30% fades in, is not stretched or looped when shorter than the picture (silence
    follows it), and drops by at least 8 dB under a line of dialogue."""
    clips = [Clip(make_clip(media / "a.mp4", 4), 4), Clip(make_clip(media / "b.mp4", 4), 4, "cut")]
    music = make_tone(media / "music.wav", 6, 440, volume=0.8, rate=44100)
    line = make_tone(media / "line.wav", 1.5, 1000)
    result = await assemble_scene(studio, clips, [DialogueLine(3.0, line)], music, media / "scene.mp4")
    assert stream_seconds(result.path, "a") == pytest.approx(8.0, abs=FRAME)
    start = band_level(result.path, 440, 0.0, 0.3)
    before = band_level(result.path, 440, 1.5, 1.0)
    during = band_level(result.path, 440, 3.3, 1.0)
    after_end = band_level(result.path, 440, 6.5, 1.0)
    assert start < before - 3  # fading in
    assert during < before - 8  # ducked under the line
    assert after_end < -60  # the 6 s track ended; nothing stretched or looped into the last 2 s


async def test_loudness_is_normalised(studio, media):
    """The mix is normalised to the EBU R128 target (within 2 LU), whether the sources are quiet or loud."""
    clips = [Clip(make_clip(media / "a.mp4", 6), 6)]
    for volume in (0.05, 0.9):
        music = make_tone(media / f"music{volume}.wav", 6, 330, volume=volume, rate=48000)
        line = make_tone(media / f"line{volume}.wav", 2, 800, volume=volume)
        result = await assemble_scene(studio, clips, [DialogueLine(1.0, line)], music, media / f"scene{volume}.mp4")
        report = ff("-i", str(result.path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-")
        integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", report)[-1])
        assert integrated == pytest.approx(LOUDNESS_I, abs=2.0)


async def test_loudness_is_measured_first_so_loudnorm_runs_linear(studio, media):
    """The mix is measured by an audio-only pass (ebur128), so loudnorm gets its measured values
    and applies one linear gain (no 192 kHz dynamic pass); silence is not measured at all."""
    clips = [Clip(make_clip(media / "a.mp4", 3), 3)]
    line = make_tone(media / "line.wav", 2, 800, volume=0.05)
    total = timeline(clips, FPS).duration_s
    measured = await measure_loudness([DialogueLine(0.5, line)], None, None, total)
    assert measured is not None and -50 < measured.i < -20 and measured.tp < measured.i + 6
    args = sound_command([DialogueLine(0.5, line)], None, media / "x.m4a", total=total, measured=measured)
    graph = args[args.index("-filter_complex") + 1]
    assert "linear=true" in graph and f"measured_I={measured.i}" in graph
    assert await measure_loudness([], None, None, total) is None


async def test_silent_scene_still_has_an_audio_track(studio, media):
    """Without dialogue or music the scene still carries a (silent) audio track as long as the
    picture, so scenes can be joined by stream copy."""
    result = await assemble_scene(studio, [Clip(make_clip(media / "a.mp4", 1.5), 1.5)], [], None, media / "s.mp4")
    assert stream_seconds(result.path, "a") == pytest.approx(1.5, abs=FRAME)


async def test_file_names_never_enter_the_filter_graph(studio, media):
    """A file name full of filter-graph syntax is an input argument, never graph text, and works."""
    odd = make_clip(media / "a;b[c]'=d,e.mp4", 1)
    args, _ = picture_command([Clip(odd, 1)], media / "x.mp4", width=320, height=180, fps=FPS)
    sound = sound_command([DialogueLine(0, odd)], None, media / "x.m4a", total=1.0)
    for graph in (args[args.index("-filter_complex") + 1], sound[sound.index("-filter_complex") + 1]):
        assert "a;b[c]" not in graph
    tone = make_tone(media / "x];[0:a]volume=9[y.wav", 1, 500)
    result = await assemble_scene(studio, [Clip(odd, 1), Clip(odd, 1, "wipe")], [DialogueLine(0.2, tone)], tone,
                                  media / "out.mp4")  # one file as both shots, one as a line and the music
    assert result.duration_s == pytest.approx(1.7, abs=FRAME)
