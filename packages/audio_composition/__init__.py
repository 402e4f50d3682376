"""Voices, TTS, music and the audio side of scene assembly (the mixing itself is one ffmpeg pass in
packages/scene_generation/assembly.py).

    path = await speak(settings, "Hello.", voice)          # a WAV under the home, cached by (voice, text)
    music = await music_for(settings, "tense", 32.5)       # None when no music source is configured
"""

from packages.audio_composition.music import music_for
from packages.audio_composition.tts import speak

__all__ = ["music_for", "speak"]
