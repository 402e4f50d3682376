"""The byte join of mp4 scenes (packages/episode_assembly/mp4join.py) checked with the real ffmpeg:
the joined episode decodes without an error to exactly the frames ffmpeg's own concat gives, the
sound lasts as long as the picture (each later scene's AAC priming is left out, so no drift), and
anything the join does not handle is left to ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from packages.core.media import ffmpeg_binary
from packages.episode_assembly import assembly, mp4join
from tests.integration.episode_helpers import make_video

FF = ffmpeg_binary()


def ff(*args: str) -> str:
    done = subprocess.run([FF, "-hide_banner", "-nostdin", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout + done.stderr


def md5(path: Path, stream: str) -> str:
    return ff("-v", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "md5", "-").strip()


def seconds(path: Path, stream: str) -> float:
    """How long a stream really lasts once decoded (the last time= of a null encode)."""
    report = ff("-i", str(path), "-map", f"0:{stream}", "-f", "null", "-")
    h, m, s = report.rsplit("time=", 1)[1].split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def b_frame_video(path: Path, seconds_: float, pattern: str) -> Path:
    """As the scene assembly encodes (veryfast: B-frames, so a composition shift in the edit list)."""
    ff("-y", "-v", "error", "-f", "lavfi", "-i", f"{pattern}=size=320x240:rate=24:duration={seconds_}",
       "-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds_}:sample_rate=48000", "-ac", "2", "-c:a", "aac",
       "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-shortest", str(path))
    return path


def ffmpeg_join(paths: list[Path], out: Path) -> Path:
    listing = out.with_suffix(".txt")
    listing.write_text(assembly.concat_list(paths))
    ff("-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0", "-c", "copy", str(out))
    return out


def test_joined_scenes_decode_to_ffmpegs_frames_and_the_sound_keeps_in_step(tmp_path):
    """Three matching scenes: the episode decodes cleanly, its pictures are ffmpeg concat's frame
    for frame, and picture and sound both last exactly the scenes' sum (no priming drift)."""
    clips = [make_video(tmp_path / f"s{i}.mp4", seconds=2.0, pattern=p) for i, p in enumerate(("testsrc", "testsrc2",
                                                                                                 "testsrc"))]
    joined = mp4join.plan(clips)
    assert joined is not None
    mp4join.write(joined, tmp_path / "episode.mp4")
    out = tmp_path / "episode.mp4"
    assert ff("-v", "error", "-i", str(out), "-f", "null", "-").strip() == ""
    assert md5(out, "v") == md5(ffmpeg_join(clips, tmp_path / "reference.mp4"), "v")
    assert abs(seconds(out, "v") - 6.0) < 0.05 and abs(seconds(out, "a") - 6.0) < 0.03


def test_b_frame_scenes_keep_their_composition_shift(tmp_path):
    """Scenes with B-frames (an edit list shifting composition) join to ffmpeg concat's frames."""
    clips = [b_frame_video(tmp_path / f"s{i}.mp4", 1.5, p) for i, p in enumerate(("testsrc", "testsrc2"))]
    joined = mp4join.plan(clips)
    assert joined is not None and any(t.composition for t in joined.tracks)
    mp4join.write(joined, tmp_path / "episode.mp4")
    out = tmp_path / "episode.mp4"
    assert md5(out, "v") == md5(ffmpeg_join(clips, tmp_path / "reference.mp4"), "v")
    assert abs(seconds(out, "a") - seconds(out, "v")) < 0.03


def test_what_the_byte_join_cannot_do_is_left_to_ffmpeg(tmp_path):
    """Other decoder settings (another sample description) or a file that is not an mp4: no plan."""
    a = make_video(tmp_path / "a.mp4", crf=40)
    b = make_video(tmp_path / "b.mp4", crf=18, pattern="testsrc2")
    assert mp4join.plan([a, b]) is None
    text = tmp_path / "c.mp4"
    text.write_bytes(b"not a video at all")
    assert mp4join.plan([a, text]) is None
