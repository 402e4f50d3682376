"""What one attempt of a generation submits: the workflow built from the project's style and the
character's prompt (the single source of truth), the input images to upload, and what to try
if no backend can run it (the next engine of the chain, or txt2img without IP-Adapter)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from packages.characters import queries as character_queries
from packages.characters.prompt import BuiltPrompt, build_prompt, dedupe, split_terms
from packages.core.media import sha256_file
from packages.core.paths import reference_images_dir
from packages.core.settings import Settings
from packages.lora_training.generation import with_active_lora
from packages.visual_pipeline import builder, queries

MIN_SIDE = 256
MAX_REFERENCE_IMAGES = 4


class RecipeError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class Recipe:
    built: builder.BuiltWorkflow
    uploads: list[tuple[Path, str]]  # (local file, "subfolder/name" on the backend)
    role: str | None
    stage: str  # shown in progress: "txt2img", "framepack video", ...
    fallback: dict | None  # params for the next try when no backend can run this one


def upload_name(path: Path, prefix: str) -> tuple[Path, str]:
    """Inputs are uploaded under a name derived from their bytes, so the workflow can name them
    before the backend is chosen and a second upload overwrites the same file."""
    return path, f"anime-studio/{prefix}-{sha256_file(path)[:20]}{path.suffix.lower() or '.png'}"


def downsized(params: dict) -> dict | None:
    """Params for a retry after out-of-memory: 3/4 of the size, multiples of 8; None below 256 px."""
    if not params.get("width") or not params.get("height"):
        return None
    width, height = (int(params["width"] * 0.75) // 8 * 8, int(params["height"] * 0.75) // 8 * 8)
    if min(width, height) < MIN_SIDE:
        return None
    return {**params, "width": width, "height": height}


async def prompt_for(conn: asyncpg.Connection, gen, params: dict) -> tuple[BuiltPrompt, dict | None]:
    style = await character_queries.default_style_for_project(conn, gen["project_id"])
    if style is None:
        raise RecipeError("The project has no default generation style; choose one in the Project tab", "no_style")
    character = await character_queries.get_character(conn, gen["character_id"]) if gen["character_id"] else None
    subject = dict(character) if character else {"design_prompt": params.get("prompt", ""), "appearance_data": {}}
    prompt = build_prompt(dict(style), subject)
    if character and params.get("prompt"):  # extra scene text after the character's design
        prompt = dataclasses.replace(prompt, positive=", ".join(dedupe(
            [*split_terms(prompt.positive), *split_terms(params["prompt"])])))
    return with_overrides(prompt, params), (dict(character) if character else None)


def with_overrides(prompt: BuiltPrompt, params: dict) -> BuiltPrompt:
    """The generation's own overrides of the style (stored in params when the request set them):
    steps and cfg replace the style's; negative_extra is appended to the built negative."""
    changes: dict = {}
    if params.get("steps") is not None:
        changes["steps"] = int(params["steps"])
    if params.get("cfg") is not None:
        changes["cfg"] = float(params["cfg"])
    if params.get("negative_extra"):
        changes["negative"] = ", ".join(dedupe([*split_terms(prompt.negative), *split_terms(params["negative_extra"])]))
    return dataclasses.replace(prompt, **changes) if changes else prompt


def _set_ip_adapter_weight(workflow: dict, weight: float) -> None:
    """The IP-Adapter node of the txt2img template takes the override instead of its 0.7."""
    node_id, _, _ = builder.load_template("txt2img").meta["ip_adapter"]["image_input"].partition(".")
    workflow[node_id]["inputs"]["weight"] = float(weight)


async def build_recipe(conn: asyncpg.Connection, settings: Settings, gen, params: dict) -> Recipe:
    prompt, character = await prompt_for(conn, gen, params)
    prefix = f"anime-studio/gen{gen['id']}"
    if gen["kind"] == "image":
        uploads = []
        if character and params.get("ip_adapter", True):
            folder = reference_images_dir(settings, character["project_slug"], character["slug"])
            rows = await conn.fetch("SELECT filename FROM reference_images WHERE character_id = $1 ORDER BY id LIMIT $2",
                                    character["id"], MAX_REFERENCE_IMAGES)
            uploads = [upload_name(folder / r["filename"], "ref") for r in rows if (folder / r["filename"]).exists()]
        # the character's active LoRA (LoraLoader) and its trigger word
        prompt, loras = await with_active_lora(conn, character["id"] if character else None, prompt)
        built = builder.build_image_workflow(
            prompt, seed=params["seed"], reference_images=[name for _, name in uploads], loras=loras,
            multi_character=params.get("multi_character", False), width=params["width"], height=params["height"],
            filename_prefix=prefix)
        if built.ip_adapter and params.get("ip_adapter_weight") is not None:
            _set_ip_adapter_weight(built.workflow, params["ip_adapter_weight"])
        fallback = {**params, "ip_adapter": False} if built.ip_adapter else None
        stage = "txt2img + IP-Adapter" if built.ip_adapter else "txt2img"
        return Recipe(built, uploads if built.ip_adapter else [], params.get("role"), stage, fallback)

    engines = params["engines"]
    source = await queries.get_output(conn, params["source_output_id"]) if params.get("source_output_id") else None
    if source is None or source["kind"] != "image":
        raise RecipeError("A video needs a source image from the gallery", "no_source_image")
    local, remote = upload_name(settings.home / source["path"], "src")
    # the video takes the shape of its start image (the builder fits it to the engine's sizes)
    prompt = dataclasses.replace(prompt, width=source["width"], height=source["height"])
    built = builder.build_video_workflow(
        engines[0], prompt, image_name=remote, motion_prompt=params.get("motion_prompt", ""),
        seconds=params["duration_s"], seed=params["seed"], width=params.get("width"), height=params.get("height"),
        steps=params.get("steps"), filename_prefix=prefix)
    fallback = {**params, "engines": engines[1:]} if len(engines) > 1 else None
    return Recipe(built, [(local, remote)], params.get("role"), f"{engines[0]} video", fallback)
