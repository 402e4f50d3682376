"""Episode assembly with the real ffmpeg: matching scenes joined by stream copy (the encoded
stream is untouched), mismatched ones re-encoded once to the first scene's size and rate with
48 kHz stereo sound (silence where a scene had none), fades, and the thumbnail."""

from __future__ import annotations

import pytest
from PIL import Image

from packages.core.errors import Invalid
from packages.episode_assembly import assembly
from tests.integration.episode_helpers import make_video


def test_concat_list_quotes_every_path(tmp_path):
    """A quote in a file name cannot end the demuxer's quoted string (it is written '\\'')."""
    path = tmp_path / "it's.mp4"
    assert assembly.concat_list([path]) == "file '{}'\n".format(str(path.resolve()).replace("'", "'\\''"))
    assert "'\\''" in assembly.concat_list([path])


async def test_matching_scenes_are_joined_by_stream_copy(tmp_path):
    """Same codec, size, rate, pixel format and audio: the concat demuxer copies the streams, so
    the encoder's own settings (crf=40, never what a re-encode uses) are still in the output."""
    clips = [make_video(tmp_path / f"s{i}.mp4", seconds=1.0) for i in range(3)]
    result = await assembly.assemble(clips, tmp_path / "out" / "episode.mp4")
    assert result.stream_copy is True
    data = result.path.read_bytes()
    assert b"crf=40.0" in data and b"crf=20.0" not in data
    out = await assembly.probe(result.path)
    first = await assembly.probe(clips[0])
    assert out.params == first.params
    assert abs(result.duration_s - 3.0) < 0.15
    assert not list((tmp_path / "out").glob("*.part*"))


async def test_mismatched_scenes_are_re_encoded_once_to_the_first_scene(tmp_path):
    """Another size, rate and no audio: one re-encode to 320x240 at 24 fps, yuv420p H.264 with 48 kHz
    stereo AAC for the whole length; the lengths add up (silence stands in for missing sound)."""
    clips = [make_video(tmp_path / "a.mp4", seconds=1.0, audio_rate=44100),
             make_video(tmp_path / "b.mp4", size="160x120", fps=30, seconds=1.5, audio_rate=None),
             make_video(tmp_path / "c.mp4", seconds=1.0, audio_rate=22050)]
    result = await assembly.assemble(clips, tmp_path / "episode.mp4")
    assert result.stream_copy is False
    out = await assembly.probe(result.path)
    assert (out.params.width, out.params.height, out.params.fps) == (320, 240, 24.0)
    assert out.params.codec == "h264" and out.params.pix_fmt == "yuv420p"
    assert out.params.audio == assembly.AudioParams("aac", 48000, "stereo")
    assert abs(result.duration_s - 3.5) < 0.15
    assert b"crf=20.0" in result.path.read_bytes()


async def test_a_fade_forces_one_re_encode_and_keeps_the_length(tmp_path):
    """Fading to black between scenes is a re-encode even for matching scenes; it adds no time."""
    clips = [make_video(tmp_path / f"s{i}.mp4", seconds=1.0) for i in range(2)]
    progress = []

    async def on_progress(fraction, step):
        progress.append(fraction)

    result = await assembly.assemble(clips, tmp_path / "episode.mp4", fade_s=0.4, on_progress=on_progress)
    assert result.stream_copy is False and abs(result.duration_s - 2.0) < 0.15
    assert progress and all(0 <= p <= 1 for p in progress)


async def test_thumbnail_is_a_jpeg_frame(tmp_path):
    """The thumbnail is a JPEG of the episode's picture, at most 640 wide."""
    video = make_video(tmp_path / "v.mp4", size="960x540", seconds=2.0)
    await assembly.thumbnail(video, tmp_path / "t.jpg", 2.0)
    with Image.open(tmp_path / "t.jpg") as img:
        assert img.format == "JPEG" and img.size == (640, 360)


async def test_missing_or_unreadable_scenes_are_refused(tmp_path):
    """No scenes, a missing file or a file that is not a video: a clear error, no output."""
    with pytest.raises(Invalid):
        await assembly.assemble([], tmp_path / "e.mp4")
    with pytest.raises(Invalid):
        await assembly.assemble([tmp_path / "nope.mp4"], tmp_path / "e.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(Invalid):
        await assembly.assemble([tmp_path / "junk.mp4"], tmp_path / "e.mp4")
    assert not (tmp_path / "e.mp4").exists()


async def test_stream_copy_of_scenes_with_other_decoder_settings_still_decodes(tmp_path):
    """Scenes that match in every parameter but were encoded with other settings (their SPS/PPS
    differ) are still copied, with each scene's configuration carried in-band: the whole episode
    decodes without an error."""
    import subprocess

    from packages.core.media import ffmpeg_binary

    clips = [make_video(tmp_path / "a.mp4", crf=40), make_video(tmp_path / "b.mp4", crf=18, pattern="testsrc2")]
    assert assembly.codec_config(clips[0]) != assembly.codec_config(clips[1])
    assert assembly.same_codec_config([clips[0], clips[0]]) and not assembly.same_codec_config(clips)
    result = await assembly.assemble(clips, tmp_path / "episode.mp4")
    assert result.stream_copy is True
    decoded = subprocess.run([ffmpeg_binary(), "-hide_banner", "-v", "error", "-i", str(result.path), "-f", "null", "-"],
                             capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""


async def test_stream_copy_puts_the_moov_in_front_without_a_second_rewrite(tmp_path):
    """A joined episode plays while it downloads (its moov box comes before the media) and the
    join writes it once: the moov goes into space reserved at the front, never +faststart's rewrite."""
    clips = [make_video(tmp_path / f"s{i}.mp4", seconds=1.0) for i in range(3)]
    same, reserve = assembly.copy_plan(clips)
    assert same and reserve > 2 * len(assembly._moov(clips[0]))
    args = assembly.copy_command(tmp_path / "list.txt", tmp_path / "o.mp4", same_config=True, moov_size=reserve)
    assert "-moov_size" in args and "+faststart" not in args
    result = await assembly.assemble(clips, tmp_path / "episode.mp4")
    with open(result.path, "rb") as fh:
        kinds = [kind for kind, _, _ in assembly._boxes(fh, 0, fh.seek(0, 2))]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
