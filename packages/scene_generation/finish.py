"""The end of a scene's job: its shots joined in one pass (assembly.py, with transitions), each
shot's dialogue line spoken (audio_composition.speak) and placed at the shot's start, and music for
the scene's mood (audio_composition.music_for), then the scene marked done.

Timeline: assembly.timeline() (a shot's transition is the join INTO it, overlapping the shot
before by at most 40% of the shorter one); each dialogue line starts where its shot starts.

Audio never fails a scene: when the voice cannot speak a line, the scene is assembled without its
dialogue track; when no music can be had, without music. Each skipped track is a
`scene.audio_skipped` event with the reason, and the finished scene's step says what was left out
("done; music skipped: ...")."""

from __future__ import annotations

import logging
from pathlib import Path

from packages.core.jobs import runtime
from packages.core.paths import inside_home
from packages.scene_generation import events, queries
from packages.scene_generation.progressive import Stop, _running, _scene_dir, set_scene

log = logging.getLogger(__name__)


async def assemble(scene_id: int) -> None:
    try:
        from packages.audio_composition import music_for, speak
        from packages.scene_generation.assembly import Clip, assemble_scene, timeline
        from packages.scene_generation.assembly_sound import DialogueLine
    except ImportError as exc:  # the assembly is another part of the studio; say plainly what is missing
        scene = await _running(scene_id)
        await set_scene(scene, events.SceneFailed(project_id=scene["project_id"], scene_id=scene_id,
                                                  error=f"assembly unavailable: {exc}"),
                        status="failed", error=f"every shot is done, but assembly is unavailable: {exc}",
                        step="assembly unavailable")
        return
    settings = runtime.settings
    scene = await _running(scene_id)
    await set_scene(scene, status="assembling", step="assembling")
    async with runtime.acquire() as conn:
        shots = await queries.list_shots(conn, scene_id)
        rows = {r["id"]: r for r in await conn.fetch(
            "SELECT id, path, duration_s FROM outputs WHERE id = ANY($1::bigint[])",
            [s["video_output_id"] for s in shots])}
        voices = {r["id"]: r["voice"] for r in await conn.fetch(
            "SELECT id, voice FROM characters WHERE id = ANY($1::bigint[])",
            [s["dialogue_character_id"] for s in shots if s["dialogue_character_id"]])}
    paths = [inside_home(settings, settings.home / rows[s["video_output_id"]]["path"]) for s in shots]
    durations = [float(rows[s["video_output_id"]]["duration_s"] or s["duration_s"]) for s in shots]
    clips = [Clip(path=p, duration_s=d, transition=s["transition"], transition_s=s["transition_s"])
             for p, d, s in zip(paths, durations, shots)]
    try:
        plan = timeline(clips)
        skipped: list[str] = []
        try:
            dialogue = [DialogueLine(start_s=start, path=Path(await speak(settings, s["dialogue_text"],
                                                                         voices.get(s["dialogue_character_id"]))))
                        for s, start in zip(shots, plan.starts) if s["dialogue_text"].strip()]
        except Exception as exc:  # no voice: the scene goes on without its dialogue track
            dialogue = []
            skipped.append(await _skip(scene, "dialogue", exc))
        music = None
        if scene["music_mode"] == "mood" and scene["mood"]:
            try:
                music = await music_for(settings, scene["mood"], plan.duration_s)
            except Exception as exc:  # no music: the scene goes on without it
                skipped.append(await _skip(scene, "music", exc))
        out = _scene_dir(settings, scene) / "scene.mp4"
        result = await assemble_scene(settings, clips, dialogue, music, out)
    except Stop:
        raise
    except Exception as exc:  # a failed assembly fails the scene with its reason; shots stay done
        log.exception("scene %s: assembly failed", scene_id)
        await set_scene(scene, events.SceneFailed(project_id=scene["project_id"], scene_id=scene_id, error=str(exc)),
                        status="failed", error=f"assembly failed: {exc}", step="assembly failed")
        return
    relative = str(inside_home(settings, Path(result.path)).relative_to(settings.home))
    await set_scene(scene, events.SceneCompleted(project_id=scene["project_id"], scene_id=scene_id,
                                                 output_url=f"scenes/{scene_id}/output", duration_s=result.duration_s),
                    status="done", progress=1.0, step="; ".join(["done", *skipped]), output_path=relative, duration_s=result.duration_s,
                    music_path=str(music) if music else None)


async def _skip(scene, track: str, exc: Exception) -> str:
    """Records that the scene is assembled without `track` (a `scene.audio_skipped` event, and the
    step shows it); returns the words the finished scene's step keeps."""
    reason = (getattr(exc, "detail", None) or str(exc) or type(exc).__name__)[:300]
    log.warning("scene %s: %s skipped: %s", scene["id"], track, reason)
    await set_scene(scene, events.SceneAudioSkipped(project_id=scene["project_id"], scene_id=scene["id"],
                                                    track=track, reason=reason),
                    step=f"assembling without {track}")
    return f"{track} skipped: {reason}"
