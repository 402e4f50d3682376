"""Dialogue speech (packages/audio_composition/tts.py): the embedded piper voice by default, an
OpenAI-compatible speech server (tests/doubles/tts.py) when TTS_URL is set; one WAV per
(voice, text), made once; errors are clear and leave nothing in the cache."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from packages.audio_composition import speak
from packages.audio_composition.tts import SpeechFailed, SpeechUnavailable, speech_dir
from packages.audio_composition.voices import available_voices, choose
from packages.core.errors import Invalid
from packages.core.settings import Settings
from tests.doubles.tts import TTSDouble
from tests.live import free_port


def studio(home: Path, **env) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, _env_file=None, **env)


def wav_info(path: Path) -> tuple[int, float, float]:
    """Sample rate, seconds and RMS (0..1) of a 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
        samples = np.frombuffer(frames, "<i2").astype(np.float64) / 32768
        return rate, wav.getnframes() / rate, float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0


@pytest.fixture
def tts():
    with TTSDouble() as double:
        yield double


async def test_the_embedded_voice_speaks_offline_and_caches(tmp_path):
    """Without TTS_URL the packaged piper voice speaks the line (real speech: seconds long, not
    silent) into a WAV under the home; the same (voice, text) again is the same file, not redone."""
    settings = studio(tmp_path)
    assert available_voices(settings) == ["en_US-joe-medium"]
    path = await speak(settings, "  The castle gates are   opening. Run!  ", None)
    assert path.parent == speech_dir(settings) and path.suffix == ".wav"
    rate, seconds, rms = wav_info(path)
    assert rate == 22050 and 1.0 < seconds < 6.0 and rms > 0.02
    made = path.stat().st_mtime_ns
    again = await speak(settings, "The castle gates are opening. Run!", "en_US-joe-medium")
    assert again == path and again.stat().st_mtime_ns == made


async def test_embedded_voice_refuses_unknown_voices_and_empty_text(tmp_path):
    """A voice that is not an embedded one, an empty line or an over-long one: Invalid naming the
    problem, and nothing written."""
    settings = studio(tmp_path)
    with pytest.raises(Invalid) as unknown:
        await speak(settings, "Hello", "nova")
    assert unknown.value.code == "unknown_voice" and "en_US-joe-medium" in unknown.value.detail
    for text, code in [("   ", "empty_text"), ("x" * 5000, "text_too_long")]:
        with pytest.raises(Invalid) as bad:
            await speak(settings, text, None)
        assert bad.value.code == code
    with pytest.raises(Invalid):
        await speak(settings, "Hello", "../../etc/passwd")
    assert not speech_dir(settings).exists() or not list(speech_dir(settings).iterdir())


async def test_speech_server_gets_the_openai_request(tmp_path, tts):
    """With TTS_URL the line goes to POST /v1/audio/speech with model, voice, input and
    response_format wav; the answer is the cached WAV; per-character voices are separate files."""
    settings = studio(tmp_path, TTS_URL=tts.url)
    assert choose(settings, None).engine == "server"
    nova = await speak(settings, "Where is the key?", "nova")
    assert tts.speeches == [{"model": "tts-1", "voice": "nova", "input": "Where is the key?",
                             "response_format": "wav"}]
    rate, seconds, rms = wav_info(nova)
    assert rate == 24000 and seconds == pytest.approx(0.06 * 17, abs=0.01) and rms > 0.05
    assert await speak(settings, "Where is the key?", "nova") == nova and len(tts.speeches) == 1
    onyx = await speak(settings, "Where is the key?", "onyx")
    assert onyx != nova and len(tts.speeches) == 2
    default = await speak(studio(tmp_path, TTS_URL=tts.url + "/v1/"), "Hi.", None)  # a base URL ending in /v1
    assert tts.speeches[-1]["voice"] == "alloy" and default.is_file()


async def test_speech_server_answering_mp3_is_converted(tmp_path, tts):
    """A server that ignores response_format and answers MP3 still gives a WAV in the cache."""
    tts.ignore_format = True
    path = await speak(studio(tmp_path, TTS_URL=tts.url), "Converted, not trusted.", "echo")
    assert path.read_bytes()[:4] == b"RIFF"
    _, seconds, rms = wav_info(path)
    assert seconds > 1.0 and rms > 0.05


async def test_speech_server_errors_are_reported_and_not_cached(tmp_path, tts):
    """A 500, an unknown voice (400) and an unreachable server each raise a clear error with the
    server's message; nothing is cached, and the next try asks again."""
    settings = studio(tmp_path, TTS_URL=tts.url)
    tts.fail_next = 1
    with pytest.raises(SpeechFailed) as failed:
        await speak(settings, "Again.", "alloy")
    assert "500" in failed.value.detail and "error while processing" in failed.value.detail
    with pytest.raises(SpeechFailed) as voice:
        await speak(settings, "Again.", "darth")
    assert "Invalid value: 'darth'" in voice.value.detail
    assert not list(speech_dir(settings).glob("*"))
    assert (await speak(settings, "Again.", "alloy")).is_file() and len(tts.speeches) == 3
    with pytest.raises(SpeechUnavailable) as down:
        await speak(studio(tmp_path, TTS_URL=f"http://127.0.0.1:{free_port()}"), "Anyone?", "alloy")
    assert down.value.status == 503


async def test_concurrent_requests_for_one_line_make_it_once(tmp_path, tts):
    """Several shots asking for the same line at once: one request to the server, one file."""
    tts.latency = 0.2
    settings = studio(tmp_path, TTS_URL=tts.url)
    paths = await asyncio.gather(*(speak(settings, "Together.", "sage") for _ in range(4)))
    assert len(set(paths)) == 1 and len(tts.speeches) == 1
