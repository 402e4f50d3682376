"""`anime-studio demo`: a sample project made offline on the CPU, through the same services and jobs
as the API, printing each step: a style, a project, a storyline, three characters with reference
sheets drawn by Pillow (src/cli_demo_art.py), two scenes of animatic shots with dialogue (each
scene's first shot starts from a drawn keyframe; the voice is the embedded piper voice unless
TTS_URL is set), the scenes generated, an episode of both assembled and published to the library
folder (JELLYFIN_LIBRARY_DIR, or `<home>/library` when it is unset).

Every run makes a new project (slug `demo`, then `demo-2`, `demo-3`, ...), so re-running never
touches an earlier one. When no worker is alive, this process works the jobs (as `generate`)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import typer
from fastapi import UploadFile

from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.core.jobs import runtime
from packages.core.media import image_thumbnail, sha256_file
from packages.core.paths import inside_home
from packages.core.settings import Settings
from src.cli_jobs import job_runtime, worked_here_if_unattended
from src.cli_demo_art import KEYFRAME_SIZE, Figure, keyframe, reference_sheet

STYLE_NAME = "Demo animatic style"
TITLE = "Lantern Street"
SCENE_EVENTS = frozenset({"scene.progress", "shot.progress", "scene.completed", "scene.failed", "scene.cancelled",
                          "scene.audio_skipped"})
EPISODE_EVENTS = frozenset({"episode.assembly_progress", "episode.assembled", "episode.published", "episode.failed",
                            "episode.updated"})
TIMEOUT_S = 1800.0

CAST = [
    {"figure": Figure("Aoi", 1.0, 0.34, (250, 220, 195), (40, 90, 210), (235, 120, 40), (250, 240, 230),
                      "spiky", "jacket"),
     "slug": "aoi", "design": "1girl, tall, spiky blue hair, orange jacket with a white zip, white trousers",
     "appearance": {"species": "human", "gender": "female", "key_colors": ["blue", "orange"],
                    "key_features": ["spiky blue hair", "orange jacket"]}},
    {"figure": Figure("Momo", 0.78, 0.42, (252, 226, 205), (240, 120, 170), (70, 170, 110), (250, 250, 250),
                      "twin-tails", "dress"),
     "slug": "momo", "design": "1girl, short, pink twin tails, green dress",
     "appearance": {"species": "human", "gender": "female", "key_colors": ["pink", "green"],
                    "key_features": ["pink twin tails", "green dress"]}},
    {"figure": Figure("Kuro", 0.62, 0.5, (35, 35, 40), (35, 35, 40), (35, 35, 40), (245, 205, 40), "ears", "fur",
                      tail=True),
     "slug": "kuro", "design": "black cat spirit standing upright, yellow eyes, long tail",
     "appearance": {"species": "cat spirit, NOT human", "gender": "male", "key_colors": ["black", "yellow"],
                    "key_features": ["pointed ears", "yellow eyes", "long tail"]}},
]

SCENES = [
    {"title": "Rooftops at dusk", "description": "Aoi and Momo meet Kuro on the street below the rooftops.",
     "location": "Lantern Street", "time_of_day": "dusk", "mood": "hopeful", "cast": ["aoi", "momo", "kuro"],
     "sky": ((250, 150, 90), (90, 60, 140)), "street": (70, 64, 80), "lights": (255, 210, 120),
     "shots": [("establishing", "the street at dusk, the three of them", "aoi", "The lanterns are late tonight."),
               ("medium", "Momo looks up at the windows", "momo", "Then we light them ourselves."),
               ("close-up", "Kuro's yellow eyes", "kuro", "Follow me. Quietly.")]},
    {"title": "The lantern market", "description": "Momo and Kuro cross the night market as the lights come on.",
     "location": "Lantern Street market", "time_of_day": "night", "mood": "mysterious", "cast": ["momo", "kuro"],
     "sky": ((70, 90, 170), (130, 100, 170)), "street": (60, 58, 78), "lights": (255, 170, 80),
     "shots": [("wide", "the market lights come on one by one", "momo", "It worked. Every window is lit."),
               ("action", "Kuro runs ahead with his tail up", "kuro", "Keep up, the night is short.")]},
]


class Step:
    """Numbered lines: `[3/11] characters ...`."""

    def __init__(self, total: int) -> None:
        self.total, self.number, self.started = total, 0, time.monotonic()

    def __call__(self, text: str) -> None:
        self.number += 1
        typer.secho(f"[{self.number}/{self.total}] {text}", bold=True)

    @staticmethod
    def detail(text: str) -> None:
        typer.echo(f"      {text}")


def _png_upload(name: str, data: bytes) -> UploadFile:
    return UploadFile(file=io.BytesIO(data), filename=name)


async def _free_slug(conn, wanted: str | None) -> tuple[str, int]:
    if wanted:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE slug = $1)", wanted):
            raise DomainError(f"A project with the slug '{wanted}' exists; choose another --slug")
        return wanted, 1
    number = 1
    while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE slug = $1)",
                              "demo" if number == 1 else f"demo-{number}"):
        number += 1
    return ("demo" if number == 1 else f"demo-{number}"), number


async def _style(conn) -> int:
    from packages.story import service as story
    from packages.story.schemas import StyleCreate

    found = await conn.fetchval("SELECT id FROM generation_styles WHERE name = $1", STYLE_NAME)
    if found is not None:
        return found
    row = await story.create_style(conn, StyleCreate(
        name=STYLE_NAME, checkpoint="animagine-xl-3.1.safetensors", width=KEYFRAME_SIZE[0], height=KEYFRAME_SIZE[1],
        steps=20, positive_template="masterpiece, best quality, anime screencap, {prompt}",
        negative_template="lowres, bad anatomy, watermark"))
    return row["id"]


async def _keyframe_output(conn, settings: Settings, project: dict, index: int, data: bytes) -> int:
    """The keyframe as an image in the project's gallery (a scene's first shot starts from it)."""
    from packages.visual_pipeline import queries as outputs

    path = inside_home(settings, settings.output_dir / project["slug"] / "images" / f"demo_keyframe_{index}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = sha256_file(path)
    thumb = settings.output_dir / "thumbnails" / digest[:2] / f"{digest}.webp"
    width, height = await asyncio.to_thread(image_thumbnail, path, thumb)
    async with transaction(conn):
        return await outputs.insert_output(conn, {
            "project_id": project["id"], "character_id": None, "generation_id": None, "kind": "image",
            "path": str(path.relative_to(settings.home)), "thumbnail": str(thumb.relative_to(settings.home)),
            "width": width, "height": height, "duration_s": None, "bytes": path.stat().st_size, "sha256": digest})


async def build(conn, settings: Settings, step: Step, slug: str | None) -> dict:
    """Everything up to the scenes; returns {project, scene_ids}."""
    from packages.characters import service as characters
    from packages.characters.reference_images import upload_reference_images
    from packages.characters.schemas import CharacterCreate
    from packages.scene_generation import queries as scene_queries
    from packages.scene_generation import service as scenes
    from packages.scene_generation.schemas import SceneCreate, ShotCreate
    from packages.story import service as story
    from packages.story.schemas import Arc, ProjectCreate, StorylineCreate, WorldSettingsWrite

    step("style")
    style_id = await _style(conn)
    step.detail(f"'{STYLE_NAME}' (id {style_id}; no ComfyUI needed: shots fall back to CPU animatics)")

    step("project")
    slug, number = await _free_slug(conn, slug)
    name = TITLE if number == 1 else f"{TITLE} {number}"
    project = dict(await story.create_project(conn, ProjectCreate(
        name=name, slug=slug, genre="slice of life, fantasy", default_style_id=style_id, content_rating="all_ages",
        premise="Two friends and a cat spirit light the lanterns of a street that forgot how.")))
    await story.save_world_settings(conn, project["id"], WorldSettingsWrite(
        setting="A steep city street of lanterns and rooftops", art_direction="flat shapes, warm dusk palette",
        cinematography="slow push-ins, wide establishing shots"))
    step.detail(f"'{name}' (slug {slug}, id {project['id']})")

    step("storyline")
    storyline = await story.create_storyline(conn, StorylineCreate(
        project_id=project["id"], title="The lanterns of Lantern Street", tone="warm", theme="friendship",
        summary="The street's lanterns stay dark; Aoi, Momo and Kuro find out why and light them again.",
        arcs=[Arc(title="The dark street", summary="The three meet at dusk."),
              Arc(title="The market lights", summary="The market comes alive.")]))
    step.detail(f"'{storyline['title']}' (id {storyline['id']}) with two arcs")

    step("characters with reference sheets drawn procedurally")
    cast: dict[str, dict] = {}
    for member in CAST:
        fig = member["figure"]
        character = await characters.create_character(conn, CharacterCreate(
            project_id=project["id"], name=fig.name, slug=member["slug"], design_prompt=member["design"],
            appearance_data=member["appearance"]))
        sheet = await asyncio.to_thread(reference_sheet, fig, design=member["design"])
        [image] = await upload_reference_images(conn, settings, character, [_png_upload(f"{member['slug']}-sheet.png",
                                                                                         sheet)])
        cast[member["slug"]] = {"id": character.id, "figure": fig}
        step.detail(f"{fig.name} ({member['slug']}): reference sheet {image['filename']}")

    step("scenes of animatic shots with dialogue")
    scene_ids = []
    for index, spec in enumerate(SCENES, start=1):
        art = await asyncio.to_thread(keyframe, [cast[s]["figure"] for s in spec["cast"]], sky=spec["sky"],
                                      street=spec["street"], lights=spec["lights"], seed=index)
        source = await _keyframe_output(conn, settings, project, index, art)
        scene_id = await scenes.create_scene(conn, SceneCreate(
            project_id=project["id"], title=spec["title"], description=spec["description"],
            location=spec["location"], time_of_day=spec["time_of_day"], mood=spec["mood"], accept_animatics=True),
            storyline_id=storyline["id"])
        scene = await scene_queries.get_scene(conn, scene_id)
        for number, (shot_type, prompt, speaker, line) in enumerate(spec["shots"], start=1):
            await scenes.create_shot(conn, scene, ShotCreate(
                shot_type=shot_type, duration_s=2.0, prompt=prompt, dialogue_character_id=cast[speaker]["id"],
                dialogue_text=line, character_ids=[cast[s]["id"] for s in spec["cast"]],
                source_output_id=source if number == 1 else None))
        scene_ids.append(scene_id)
        step.detail(f"scene {scene_id} '{spec['title']}': {len(spec['shots'])} shots, keyframe output {source}")
    return {"project": project, "scene_ids": scene_ids}


async def _follow_scenes(conn, scene_ids: list[int]) -> list[dict]:
    from packages.scene_generation import queries as scene_queries

    shown: dict[int, tuple] = {}
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        rows = [await scene_queries.get_scene(conn, i) for i in scene_ids]
        for scene in rows:
            state = (scene["status"], scene["shots_done"], scene["step"])
            if shown.get(scene["id"]) != state:
                shown[scene["id"]] = state
                Step.detail(f"scene {scene['id']}: {scene['status']:<10} {scene['shots_done']}/{scene['shot_count']} "
                            f"shots  {scene['step']}")
        if all(s["status"] in ("done", "failed", "cancelled") for s in rows) or time.monotonic() > deadline:
            return rows
        await runtime.wait_for_change(SCENE_EVENTS, timeout=1.0)


async def _follow_episode(conn, episode_id: int, until: tuple[str, ...]) -> dict:
    shown = None
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        row = await conn.fetchrow("SELECT * FROM episodes WHERE id = $1", episode_id)
        state = (row["status"], round((row["progress"] or 0) * 100), row["step"])
        if state != shown:
            shown = state
            Step.detail(f"episode {episode_id}: {row['status']:<11} {state[1]:>3}%  {row['step'] or ''}")
        if row["status"] in (*until, "failed") or time.monotonic() > deadline:
            return row
        await runtime.wait_for_change(EPISODE_EVENTS, timeout=1.0)


async def episode(conn, settings: Settings, step: Step, project: dict, scene_ids: list[int],
                  publish_here: bool) -> tuple[dict, list[Path]]:
    """Creates the episode of the scenes, assembles it, publishes it; its final row and the files
    placed in the library."""
    from packages.episode_assembly import service as episodes

    step("episode of both scenes")
    episode_id = await episodes.create_episode(conn, project["id"], "The lanterns come on", number=1,
                                               description="Aoi, Momo and Kuro light Lantern Street.")
    for scene_id in scene_ids:
        await episodes.add_scene(conn, episode_id, scene_id)
    step.detail(f"episode {episode_id} with scenes {', '.join(map(str, scene_ids))}")

    step("assembling the episode")
    await episodes.start_assembly(conn, episode_id, fade_s=0.5)
    row = await _follow_episode(conn, episode_id, ("assembled",))
    if row["status"] != "assembled":
        return dict(row), []

    step("publishing to the library")
    if publish_here:  # the library folder is this run's default: a worker elsewhere would not know it
        from packages.episode_assembly import work

        await episodes.start_publish(conn, settings, episode_id, defer=False)
        await work.publish(episode_id)
    else:
        await episodes.start_publish(conn, settings, episode_id)
    row = dict(await _follow_episode(conn, episode_id, ("published",)))
    if not row["published_path"]:
        return row, []
    show = Path(row["published_path"]).parent.parent  # <library>/<Show (Year)>/Season 01/<episode>.mp4
    return row, sorted(p for p in show.rglob("*") if p.is_file())


async def run_demo(url: str, settings: Settings, *, slug: str | None, library_note: str | None) -> int:
    step = Step(total=9)
    typer.secho("Anime Studio demo: a sample project, generated, assembled and published on this machine",
                fg="green")
    if library_note:
        typer.echo(library_note)
    async with job_runtime(url, settings, pool_size=6) as (pool, job_app), pool.acquire() as conn:
        try:
            made = await build(conn, settings, step, slug)
        except DomainError as exc:
            typer.secho(f"error: {exc.detail}", fg="red", err=True)
            return 2
        async with worked_here_if_unattended(pool, job_app, settings, name="cli-demo",
                                             concurrency=max(2, settings.worker_concurrency)):
            return await _generate_and_publish(conn, settings, step, made, publish_here=library_note is not None)


async def _generate_and_publish(conn, settings: Settings, step: Step, made: dict, *, publish_here: bool) -> int:
    from packages.scene_generation import queries as scene_queries
    from packages.scene_generation import service as scenes

    step("generating the scenes (shot by shot; animatics on the CPU when no ComfyUI backend can)")
    for scene_id in made["scene_ids"]:
        await scenes.start_generation(conn, await scene_queries.get_scene(conn, scene_id))
    rows = await _follow_scenes(conn, made["scene_ids"])
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        for r in failed:
            typer.secho(f"scene {r['id']} {r['status']}: {r['error'] or r['step']}", fg="red", err=True)
        return 1
    for r in rows:
        Step.detail(f"scene {r['id']}: {settings.home / r['output_path']} ({r['duration_s']:.1f} s)")
    try:
        row, placed = await episode(conn, settings, step, made["project"], made["scene_ids"], publish_here)
    except DomainError as exc:
        typer.secho(f"error: {exc.detail}", fg="red", err=True)
        return 1
    if row["status"] != "published":
        typer.secho(f"episode {row['id']} {row['status']}: {row['error'] or row['step']}", fg="red", err=True)
        return 1
    for path in placed:
        Step.detail(f"placed {path}")
    elapsed = time.monotonic() - step.started
    typer.secho(f"\nDone in {elapsed:.0f} s. Published: {row['published_path']}\n"
                f"Open the project in the UI: anime-studio serve, then /p/{made['project']['slug']}/scenes",
                fg="green")
    return 0
