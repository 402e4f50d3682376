"""A scene's audio never fails it: when the speech server or ACE-Step answer errors, the scene is
assembled without that track, each skipped track is a `scene.audio_skipped` event with the reason,
and the finished scene's step says what was left out."""

from __future__ import annotations

import pytest

from packages.core.media import probe_video
from packages.core.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.doubles.acestep import AceStepDouble
from tests.doubles.tts import TTSDouble
from tests.integration.scene_helpers import make_scene, source_output, studio, wait_scene


@pytest.fixture
def tts():
    with TTSDouble() as double:
        yield double


@pytest.fixture
def acestep():
    with AceStepDouble(latency=0.05) as double:
        yield double


@pytest.fixture
def settings(home, database_url, tts, acestep):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    TTS_URL=tts.url, ACESTEP_URL=acestep.url, ANIME_STUDIO_RETRY_BACKOFF_S=0.01, _env_file=None)


async def _animatic_scene(client, db, home, **fields) -> dict:
    project, character = await studio(client)
    source = await source_output(db, home, project)
    return await make_scene(client, project, [
        {"prompt": "x", "source_output_id": source, "duration_s": 1.5, "dialogue_character_id": character["id"],
         "dialogue_text": "We keep going."}], **fields)


async def test_failing_voice_and_music_leave_the_scene_done_without_them(client, db, home, tts, acestep):
    """TTS and ACE-Step both answer errors: the scene still finishes (status done, a video as long as
    its picture), with one scene.audio_skipped event per track naming the reason, and its step
    says both were skipped."""
    tts.fail_next = 100
    acestep.fail_next = 100
    scene = await _animatic_scene(client, db, home, mood="tense")
    assert (await client.post(f"/scenes/{scene['id']}/generate")).status_code == 202
    done = await wait_scene(client, scene["id"], timeout=120)
    assert done["status"] == "done" and done["output_url"], done
    assert done["step"].startswith("done; ") and "dialogue skipped" in done["step"] and "music skipped" in done["step"]
    skipped = await db.fetch("SELECT payload FROM events WHERE type = 'scene.audio_skipped' ORDER BY id")
    assert sorted(e["payload"]["track"] for e in skipped) == ["dialogue", "music"]
    assert all(e["payload"]["scene_id"] == scene["id"] and e["payload"]["reason"] for e in skipped)
    assert tts.speeches and acestep.releases  # both were asked before being left out
    path = home / await db.fetchval("SELECT output_path FROM scenes WHERE id = $1", scene["id"])
    assert (await probe_video(path)).duration_s == pytest.approx(1.5, abs=0.15)


async def test_working_audio_records_no_warning(client, db, home, tts, acestep):
    """With a speaking voice and music the scene's step is plain "done" and nothing is skipped."""
    scene = await _animatic_scene(client, db, home, mood="calm")
    await client.post(f"/scenes/{scene['id']}/generate")
    done = await wait_scene(client, scene["id"], timeout=120)
    assert done["status"] == "done" and done["step"] == "done", done
    assert not await db.fetch("SELECT 1 FROM events WHERE type = 'scene.audio_skipped'")
    assert len(tts.speeches) == 1 and len(acestep.releases) == 1
