"""Scene music (packages/audio_composition/music.py) through ACE-Step 1.5's API, against its
protocol double (tests/doubles/acestep.py): a task released, polled without blocking the event
loop, downloaded and cached by (mood, duration); failures, a full queue, a lost task, a timeout
and an unreachable server are clear errors that cache nothing; uploaded tracks are checked."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import httpx
import pytest

from packages.audio_composition import music_for
from packages.audio_composition.music import (AceStepClient, MusicFailed, MusicUnavailable, music_dir,
                                              prepare_track)
from packages.core.errors import Invalid
from packages.core.settings import Settings
from tests.doubles.acestep import AceStepDouble, write_music
from tests.live import free_port


def studio(home: Path, **env) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, _env_file=None, **env)


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.fixture
def ace():
    with AceStepDouble(latency=0.6) as double:
        yield double


def fast(double: AceStepDouble, **kwargs) -> AceStepClient:
    return AceStepClient(double.url, **{"poll_s": 0.05, "max_poll_s": 0.1, "busy_backoff_s": 0.02, **kwargs})


async def test_no_music_source_means_none(tmp_path):
    """Without ACESTEP_URL there is no generated music: music_for answers None and writes nothing."""
    assert await music_for(studio(tmp_path), "tense", 30) is None
    assert not music_dir(studio(tmp_path)).exists()


async def test_music_for_a_mood_is_generated_once_per_mood_and_duration(tmp_path, ace):
    """The mood becomes an instrumental caption, the duration is rounded up (at least ACE-Step's
    10 s), the task is polled to success and its file downloaded; the same (mood, duration) again
    is the cached file without a new task, another duration is a new one."""
    settings = studio(tmp_path, ACESTEP_URL=ace.url)
    path = await music_for(settings, "  Tense  Chase ", 12.2)
    assert path is not None and path.parent == music_dir(settings) and path.suffix == ".wav"
    [release] = ace.releases
    assert "tense chase" in release["prompt"] and release["audio_duration"] == 13
    assert release["audio_format"] == "wav" and release["batch_size"] == 1 and release["lyrics"] == "[Instrumental]"
    assert ace.queries >= 2  # it waited through queued/running
    assert seconds_of(path) == pytest.approx(13, abs=0.01)
    assert await music_for(settings, "tense chase", 12.9) == path and len(ace.releases) == 1
    short = await music_for(settings, "tense chase", 3)
    assert short != path and ace.releases[-1]["audio_duration"] == 10 and seconds_of(short) == pytest.approx(10)


async def test_polling_never_blocks_the_event_loop(tmp_path, ace):
    """While a task runs, the client sleeps between polls on the event loop: other coroutines keep
    running (a blocking client would starve this ticker)."""
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await fast(ace).generate("calm", 10, tmp_path / "calm.wav")
    finally:
        task.cancel()
    assert ticks >= 30  # 0.6 s of generation, ticking every 10 ms


async def test_a_failed_task_is_an_error_and_nothing_is_cached(tmp_path, ace):
    """status 2: MusicFailed carrying ACE-Step's reason; no file is left, and the next call retries."""
    settings = studio(tmp_path, ACESTEP_URL=ace.url)
    ace.fail_next = 1
    with pytest.raises(MusicFailed) as failed:
        await music_for(settings, "sad", 20)
    assert "CUDA out of memory" in failed.value.detail and failed.value.status == 502
    assert not list(music_dir(settings).glob("*"))
    assert (await music_for(settings, "sad", 20)).is_file() and len(ace.releases) == 2


async def test_a_full_queue_is_retried_then_reported(tmp_path, ace):
    """429 (queue full) is retried with backoff; when it persists, MusicFailed says so."""
    ace.busy_next = 2
    assert (await fast(ace).generate("epic", 10, tmp_path / "epic.wav")).is_file()
    ace.busy_next = 10
    with pytest.raises(MusicFailed) as busy:
        await fast(ace).generate("epic", 10, tmp_path / "epic2.wav")
    assert "429" in busy.value.detail and "queue is full" in busy.value.detail
    assert not (tmp_path / "epic2.wav").exists()


async def test_a_lost_task_and_a_slow_one_are_given_up(tmp_path, ace):
    """A restarted server no longer knows the task (it answers "[]" for ever): given up after a few
    polls; a task running past the timeout: given up too."""
    client = fast(ace)
    async with httpx.AsyncClient() as http:
        task_id = await client.release(http, {"prompt": "x", "audio_duration": 10, "audio_format": "wav"})
        ace.forget()
        with pytest.raises(MusicFailed) as lost:
            await client.wait(http, task_id)
        assert "no longer knows" in lost.value.detail
    ace.latency = 5
    with pytest.raises(MusicFailed) as slow:
        await fast(ace, timeout_s=0.3).generate("slow", 10, tmp_path / "slow.wav")
    assert "did not finish" in slow.value.detail


async def test_download_errors_and_auth_and_unreachable(tmp_path, ace):
    """A file outside the server's folder (403), a missing one (404), a refused key (401) and a
    server that is not there are clear errors."""
    client = fast(ace)
    async with httpx.AsyncClient() as http:
        with pytest.raises(MusicFailed) as outside:
            await client.download(http, "/v1/audio?path=%2Fetc%2Fpasswd", tmp_path / "x.wav")
        assert "403" in outside.value.detail
        missing = f"/v1/audio?path={ace.audio_dir / 'gone.wav'}"
        with pytest.raises(MusicFailed) as gone:
            await client.download(http, missing, tmp_path / "x.wav")
        assert "404" in gone.value.detail and not (tmp_path / "x.wav").exists()
    ace.api_key = "secret"
    with pytest.raises(MusicFailed) as refused:
        await client.generate("x", 10, tmp_path / "k.wav")
    assert "401" in refused.value.detail
    with pytest.raises(MusicUnavailable):
        await music_for(studio(tmp_path, ACESTEP_URL=f"http://127.0.0.1:{free_port()}"), "calm", 10)


async def test_bad_mood_or_duration_is_refused(tmp_path, ace):
    """An empty mood or a non-positive duration: Invalid, and no task is released."""
    settings = studio(tmp_path, ACESTEP_URL=ace.url)
    for mood, duration, code in [("  ", 10, "empty_mood"), ("calm", 0, "invalid_duration")]:
        with pytest.raises(Invalid) as bad:
            await music_for(settings, mood, duration)
        assert bad.value.code == code
    assert ace.releases == []


async def test_an_uploaded_track_is_checked_and_prepared(tmp_path):
    """An uploaded track becomes 48 kHz stereo FLAC and reports its length; a file without audio is
    refused and nothing is written."""
    settings = studio(tmp_path)
    source = tmp_path / "upload.wav"
    write_music(source, 3.5)
    seconds = await prepare_track(settings, source, tmp_path / "scene" / "music.flac")
    assert seconds == pytest.approx(3.5, abs=0.05) and (tmp_path / "scene" / "music.flac").is_file()
    fake = tmp_path / "fake.mp3"
    fake.write_text("not audio at all")
    with pytest.raises(Invalid) as bad:
        await prepare_track(settings, fake, tmp_path / "scene" / "fake.flac")
    assert bad.value.code == "unreadable_audio" and not list((tmp_path / "scene").glob("fake*"))
