"""Text to speech: one WAV per (engine, voice, text) under `output/audio/speech/`, made once.

Engines (voices.choose decides): the embedded piper voice (the default, offline, on the CPU in a
worker thread), or an OpenAI-compatible speech server at `TTS_URL` (`POST /v1/audio/speech` with
model, voice, input and `response_format: "wav"`; an answer in another format is converted to WAV
with ffmpeg). Files are written atomically, so a crash never leaves a half line in the cache."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import wave
from functools import lru_cache
from pathlib import Path

import httpx

from packages.audio_composition.voices import SERVER_MODEL, Voice, choose, embedded_voices
from packages.core.errors import DomainError, Invalid
from packages.core.media import ffmpeg_binary
from packages.core.settings import Settings

MAX_TEXT = 4096  # the OpenAI speech API's limit; one dialogue line is far shorter
SERVER_TIMEOUT_S = 120.0
_locks: dict[str, asyncio.Lock] = {}
_synthesis = threading.Lock()  # one piper synthesis at a time per process (it uses every core)


class SpeechUnavailable(DomainError):
    """The speech server at TTS_URL cannot be reached."""

    status = 503
    code = "tts_unreachable"


class SpeechFailed(DomainError):
    """The speech server answered with an error, or with something that is not audio."""

    status = 502
    code = "tts_failed"


def speech_dir(settings: Settings) -> Path:
    return settings.output_dir / "audio" / "speech"


def clean_text(text: str) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        raise Invalid("There is no text to speak", code="empty_text", field="text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"A line to speak is at most {MAX_TEXT} characters", code="text_too_long", field="text")
    return text


def cache_path(settings: Settings, voice: Voice, text: str) -> Path:
    key = hashlib.sha256(f"{voice.engine}\0{voice.name}\0{text}".encode()).hexdigest()[:40]
    return speech_dir(settings) / f"{key}.wav"


async def speak(settings: Settings, text: str, voice: str | None) -> Path:
    """The WAV of `text` spoken by `voice` (None: the default voice), made once and cached."""
    text = clean_text(text)
    chosen = choose(settings, voice)
    dest = cache_path(settings, chosen, text)
    if dest.is_file():
        return dest
    lock = _locks.setdefault(dest.name, asyncio.Lock())
    try:
        async with lock:
            if dest.is_file():  # made while this call waited
                return dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(dest.stem + ".part.wav")
            try:
                if chosen.engine == "server":
                    await _server_speech(settings, chosen.name, text, partial)
                else:
                    await asyncio.to_thread(_piper_speech, chosen.name, text, partial)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(dest)
            return dest
    finally:
        if not lock.locked() and _locks.get(dest.name) is lock:
            del _locks[dest.name]


@lru_cache(maxsize=4)
def _piper_voice(name: str):
    from piper import PiperVoice  # imported on first use: onnxruntime is heavy

    voice = embedded_voices()[name]
    return PiperVoice.load(voice.model, config_path=voice.config)


def _piper_speech(name: str, text: str, dest: Path) -> None:
    with _synthesis:
        voice = _piper_voice(name)
        with wave.open(str(dest), "wb") as wav:
            voice.synthesize_wav(text, wav)
    with wave.open(str(dest), "rb") as wav:
        if wav.getnframes() == 0:
            raise SpeechFailed(f"The embedded voice produced no audio for {text[:40]!r}")


def speech_url(base: str) -> str:
    base = base.rstrip("/")
    return (base if base.endswith("/v1") else base + "/v1") + "/audio/speech"


def _server_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return str(error or body)[:300]


async def _server_speech(settings: Settings, voice: str, text: str, dest: Path) -> None:
    url = speech_url(settings.tts_url or "")
    payload = {"model": SERVER_MODEL, "voice": voice, "input": text, "response_format": "wav"}
    try:
        async with httpx.AsyncClient(timeout=SERVER_TIMEOUT_S) as client:
            response = await client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise SpeechUnavailable(f"The speech server at {settings.tts_url} cannot be reached: {exc}") from exc
    if response.status_code != 200:
        raise SpeechFailed(f"The speech server refused the line ({response.status_code}): {_server_error(response)}")
    audio = response.content
    if not audio:
        raise SpeechFailed("The speech server answered with no audio")
    if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        dest.write_bytes(audio)
        return
    await _to_wav(settings, audio, dest)


async def _to_wav(settings: Settings, audio: bytes, dest: Path) -> None:
    """A server that ignores response_format (mp3, opus...): ffmpeg turns it into a WAV."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(settings.ffmpeg_binary), "-hide_banner", "-loglevel", "error", "-y", "-i", "pipe:0", "-vn",
        "-c:a", "pcm_s16le", "-f", "wav", str(dest), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, report = await process.communicate(audio)
    if process.returncode != 0:
        raise SpeechFailed(f"The speech server's answer is not audio: {report.decode(errors='replace')[-200:]}")
