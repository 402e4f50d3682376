"""Auto-correction: a rejected generated image is regenerated once with parameters changed for the
reason it was rejected, and the outcome is kept so learning shows which fixes work.

Rules:
- Off by default (replenishment_settings.auto_correction, the studio's one switch).
- Only a rejected image with a generation (images.generation_id) of kind image is corrected; an
  upload never is, and neither is an image that a correction produced (no loops). One correction
  per rejected image (corrections.image_id is unique).
- The strategy follows the reason of the latest rejection (human chip, "metrics: ..." issues or
  "vision: ..." text, see `strategy_for`); `plan` turns it into generation overrides; the seed is
  the old one + 1. The regeneration goes through visual_pipeline's create_generations with
  params.correction_of = the rejected image.
- Idempotent under retries and crashes, in three steps: (1) the corrections row (inserted once),
  (2) the generation (found again by params.correction_of before one is created), (3) linking
  the two and emitting `regeneration.queued` (only by the call that linked them).
- The outcome follows the regeneration (learning_queries.settle_outcomes): failed/cancelled ->
  failed, an approved image -> approved, a rejected one -> rejected.
- Who calls `correct`: the `correction:refresh` job (learning_jobs.py), deferred after decisions,
  for the character's images rejected since the switch was turned on.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import asyncpg

from packages.approval import learning_queries as queries
from packages.characters import queries as character_queries
from packages.characters.prompt import dedupe, split_terms
from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.core.events import Event
from packages.core.settings import Settings

log = logging.getLogger(__name__)

STRATEGIES = ("fix_quality", "fix_resolution", "fix_blur", "fix_brightness", "fix_contrast", "fix_appearance",
              "fix_solo")
# The human reason chips (packages/approval/schemas.py REASONS).
CHIPS = {"wrong_character": "fix_appearance", "wrong_species": "fix_appearance", "anatomy": "fix_quality",
         "blur": "fix_blur", "not_solo": "fix_solo", "style": "fix_quality", "other": "fix_quality"}
# Free text ("metrics: blurry, too dark", "vision: two people in frame"): the first rule whose
# pattern matches, in this order; nothing matching -> fix_quality.
KEYWORDS = [
    ("fix_solo", r"\bsolo\b|multiple|two (people|persons|characters)|\d(girls|boys)\b|group|crowd"),
    ("fix_appearance", r"species|wrong character|appearance|design|off[- ]model|hair|eyes?\b|outfit|colou?rs? "),
    ("fix_resolution", r"resolution|low[- ]res|pixelat|too small"),
    ("fix_blur", r"blur|out of focus|unsharp|soft focus"),
    ("fix_brightness", r"dark|underexposed|overexposed|too bright|exposure|dim\b"),
    ("fix_contrast", r"contrast|washed|flat colou?rs"),
]
TOO_BRIGHT = re.compile(r"overexposed|too bright|washed out|blown")

MAX_STEPS, MAX_CFG, MAX_IP_WEIGHT = 100, 12.0, 1.0
RESOLUTION_SCALE, RESOLUTION_LIMIT = 1.25, 1.5  # grow 25%, to at most 1.5x the style's side
PROMPT_LIMIT, NEGATIVE_LIMIT = 2000, 1000  # GenerationCreate's limits
SOLO_NEGATIVES = "multiple people, 2girls, 2boys, group, crowd, multiple views"


class RegenerationQueued(Event):
    type: ClassVar[str] = "regeneration.queued"
    project_id: int
    character_id: int
    image_id: int
    generation_id: int
    strategy: str


def strategy_for(reason: str | None) -> str:
    """The correction strategy for a rejection reason (see the module rules)."""
    text = (reason or "").strip().casefold()
    if text in CHIPS:
        return CHIPS[text]
    for strategy, pattern in KEYWORDS:
        if re.search(pattern, text):
            return strategy
    return "fix_quality"


def effective_params(params: dict, workflow: dict | None, style) -> dict:
    """What the generation was made with: the submitted workflow's values, else its params, else the style's."""
    found: dict = {}
    for node in (workflow or {}).values():
        inputs, kind = node.get("inputs") or {}, node.get("class_type")
        if kind == "KSampler":
            found |= {"seed": inputs.get("seed"), "steps": inputs.get("steps"), "cfg": inputs.get("cfg")}
        elif kind == "EmptyLatentImage":
            found |= {"width": inputs.get("width"), "height": inputs.get("height")}
        elif kind == "IPAdapterAdvanced":
            found["ip_adapter_weight"] = inputs.get("weight")

    def pick(name, default=None):
        for source in (found, params):
            if source.get(name) is not None:
                return source[name]
        return default

    return {"seed": int(pick("seed", 0)), "steps": int(pick("steps", style["steps"])),
            "cfg": float(pick("cfg", style["cfg"])), "width": int(pick("width", style["width"])),
            "height": int(pick("height", style["height"])), "prompt": params.get("prompt") or "",
            "negative_extra": params.get("negative_extra") or "", "ip_adapter_weight": pick("ip_adapter_weight")}


def _merge(text: str, extra: str, limit: int) -> str:
    """`text` with `extra`'s terms appended (deduplicated), as many as fit in `limit` characters."""
    terms = dedupe([*split_terms(text), *split_terms(extra)])
    kept: list[str] = []
    for term in terms:
        if len(", ".join([*kept, term])) > limit:
            break
        kept.append(term)
    return ", ".join(kept)


def _more_steps(steps: int) -> int:
    return min(max(steps + 8, round(steps * 1.3)), MAX_STEPS)


def _larger(side: int, style_side: int) -> int:
    limit = min(4096, int(style_side * RESOLUTION_LIMIT) // 8 * 8)
    return max(min(int(side * RESOLUTION_SCALE) // 8 * 8, limit), side // 8 * 8)


def _design_terms(appearance: dict | None, design_prompt: str) -> str:
    appearance = appearance or {}
    terms = [str(t) for key in ("key_features", "key_colors") for t in appearance.get(key) or [] if str(t).strip()]
    terms = terms or split_terms(design_prompt or "")
    return ", ".join(f"({t.strip()}:1.2)" for t in terms[:8] if "(" not in t and ":" not in t)


def plan(strategy: str, before: dict, *, reason: str | None, style, appearance: dict | None = None,
         design_prompt: str = "") -> dict:
    """The overrides of the corrected regeneration (GenerationCreate fields) for a strategy."""
    after = {"seed": (before["seed"] + 1) % 2**32, "steps": before["steps"], "cfg": before["cfg"],
             "width": before["width"], "height": before["height"], "prompt": before["prompt"],
             "negative_extra": before["negative_extra"]}
    if before.get("ip_adapter_weight") is not None:
        after["ip_adapter_weight"] = before["ip_adapter_weight"]
    prompt = negative = ""
    if strategy == "fix_quality":
        after["steps"] = _more_steps(before["steps"])
        after["cfg"] = max(before["cfg"], min(before["cfg"] + 1.0, MAX_CFG))
    elif strategy == "fix_resolution":
        after["width"] = _larger(before["width"], style["width"])
        after["height"] = _larger(before["height"], style["height"])
    elif strategy == "fix_blur":
        after["steps"] = _more_steps(before["steps"])
        prompt, negative = "sharp focus, highly detailed", "blurry, out of focus, motion blur"
    elif strategy == "fix_brightness":
        if TOO_BRIGHT.search((reason or "").casefold()):
            prompt, negative = "soft lighting, balanced exposure", "overexposed, washed out, blown highlights"
        else:
            prompt, negative = "bright lighting, well lit", "dark, underexposed, dim lighting"
    elif strategy == "fix_contrast":
        prompt, negative = "high contrast, vivid colors", "low contrast, flat colors, washed out"
    elif strategy == "fix_appearance":
        prompt = _design_terms(appearance, design_prompt)
        after["ip_adapter_weight"] = min(round((before.get("ip_adapter_weight") or 0.7) + 0.15, 2), MAX_IP_WEIGHT)
    elif strategy == "fix_solo":
        prompt, negative = "solo", SOLO_NEGATIVES
    else:
        raise ValueError(f"unknown correction strategy {strategy!r}")
    after["prompt"] = _merge(before["prompt"], prompt, PROMPT_LIMIT)
    after["negative_extra"] = _merge(before["negative_extra"], negative, NEGATIVE_LIMIT)
    return after


def eligible(row) -> bool:
    """A rejected image made by an image generation that no correction produced."""
    return (row is not None and row["status"] == "rejected" and row["generation_id"] is not None
            and row["generation_kind"] == "image" and not row["archived"] and not row["from_correction"]
            and "correction_of" not in (row["params"] or {}))


async def correct(conn: asyncpg.Connection, settings: Settings, image_id: int):
    """Corrects one rejected image (see the module rules); returns its corrections row, or None
    when the switch is off or the image is not one to correct. Safe to run again at any point."""
    from packages.visual_pipeline.schemas import GenerationCreate
    from packages.visual_pipeline.service import create_generations

    if not await queries.auto_correction(conn):
        return None
    async with transaction(conn):
        row = await queries.lock_rejected_image(conn, image_id)
        existing = await queries.correction_for_image(conn, image_id)
        if existing is None:
            if not eligible(row):
                return None
            style = await character_queries.default_style_for_project(conn, row["project_id"])
            if style is None:
                return None
            reason = await queries.last_reject_reason(conn, image_id) or (row["reasons"] or [None])[0]
            strategy = strategy_for(reason)
            before = effective_params(row["params"] or {}, row["workflow"], style)
            after = plan(strategy, before, reason=reason, style=style, appearance=row["appearance_data"],
                         design_prompt=row["design_prompt"])
            existing = await queries.insert_correction(conn, image_id=image_id, character_id=row["character_id"],
                                                       strategy=strategy, reason=reason, params_before=before,
                                                       params_after=after)
        if existing["generation_id"] is not None or existing["outcome"] != "queued":
            return existing  # done before
    generation_id = await queries.generation_of_correction(conn, image_id)
    if generation_id is None:
        body = GenerationCreate(character_id=existing["character_id"], kind="image", count=1, **existing["params_after"])
        try:
            generation_id = (await create_generations(conn, settings, body, origin={"correction_of": image_id}))[0]
        except (DomainError, ValueError) as exc:  # the character was archived, the style is gone, ...
            log.warning("correction of image %s not queued: %s", image_id, exc)
            await queries.fail_correction(conn, image_id)
            return await queries.correction_for_image(conn, image_id)
    async with transaction(conn) as tx:
        linked = await queries.link_correction(conn, image_id, generation_id)
        if linked is not None:
            await queries.settle_outcomes(conn, linked["character_id"])  # it may have finished already
            project_id = await conn.fetchval("SELECT project_id FROM characters WHERE id = $1", linked["character_id"])
            await tx.emit(RegenerationQueued(project_id=project_id, character_id=linked["character_id"],
                                             image_id=image_id, generation_id=generation_id,
                                             strategy=linked["strategy"]))
    return await queries.correction_for_image(conn, image_id)


async def record_outcomes(conn: asyncpg.Connection, character_id: int) -> None:
    """Brings the outcomes of the character's corrections up to date (idempotent)."""
    async with transaction(conn):
        await queries.settle_outcomes(conn, character_id)


async def set_enabled(conn: asyncpg.Connection, enabled: bool) -> bool:
    async with transaction(conn):
        return await queries.set_auto_correction(conn, enabled)
