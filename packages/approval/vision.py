"""The vision review's model side: what the studio asks Ollama about one dataset image, and how the
answer becomes a score and a decision.

The checklist comes from the character's appearance_data (species, gender, key_colors,
key_features, common_errors). The answer is structured output: the JSON schema of `answer_model`
goes to Ollama as `format`, and the answer is validated against the same pydantic model, strictly.
Fields: character_match, clarity, training_value (integers 0-10), solo (bool), completeness
(full|upper|face|partial), anatomical_defects, common_error_hits (only entries of the character's
common_errors), caption, issues; plus species_match (bool) only for a non-human character and
gender_match (bool) only when the character has a gender.

Rules (pure functions, unit-tested):
- A character is human when its species is empty, or names human/humanoid without negating it
  ("NOT human", "non-human"); any other species is non-human.
- anatomical defects or common-error hits cap training_value at 2, before the quality is computed
  (the stored training_value is the capped one, so quality can be recomputed from the scores);
- quality = (character_match + clarity + training_value) / 30, and 0 when species_match or
  gender_match is false;
- quality < auto_reject -> rejected; quality >= auto_approve and solo and human -> approved (a
  non-human character is never auto-approved); otherwise no decision.
- An answer that is not JSON, breaks the schema (a field missing or extra, a wrong type, a number
  out of range, a common-error hit the character does not have) or never completes is a failed
  review (`VisionFailed`), never a default score.

The image goes as PNG (lossless: anime line art), downsized to at most 1024 px on its long side.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import ollama
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from packages.core.errors import DomainError
from packages.core.settings import Settings

MAX_SIDE = 1024
CAPPED_TRAINING_VALUE = 2
COMPLETENESS = ("full", "upper", "face", "partial")
TIMEOUT_S = 300.0  # one answer (a cold model loads first)
CONNECT_S = 5.0
PROBE_S = 10.0
REASON_MAX = 500
_NEGATED = re.compile(r"\b(not|non)[\s_-]*human")
_HUMAN = re.compile(r"\bhuman(oid)?\b")

Score = Annotated[int, Field(ge=0, le=10)]
Note = Annotated[str, Field(max_length=300)]
Notes = Annotated[list[Note], Field(max_length=20)]


class VisionUnavailable(DomainError):
    """Ollama cannot be reached (nothing was reviewed)."""

    status = 503
    code = "ollama_unreachable"


class VisionModelMissing(DomainError):
    """Ollama answers, but has no such model (or one that cannot read images)."""

    status = 502
    code = "vision_model_missing"


class VisionFailed(Exception):
    """One image got no usable answer: retried later, never scored by default."""


# -- checklist ----------------------------------------------------------------------------------

def is_human(species: str | None) -> bool:
    text = (species or "").casefold().strip()
    if not text:
        return True
    return not _NEGATED.search(text) and bool(_HUMAN.search(text))


def _items(values: Any) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values or []:
        text = str(value).strip()
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return tuple(seen.values())


@dataclass(frozen=True)
class Checklist:
    name: str
    species: str = ""
    gender: str = ""
    key_colors: tuple[str, ...] = ()
    key_features: tuple[str, ...] = ()
    common_errors: tuple[str, ...] = ()

    @property
    def human(self) -> bool:
        return is_human(self.species)

    @property
    def ask_species(self) -> bool:
        return not self.human

    @property
    def ask_gender(self) -> bool:
        return bool(self.gender)


def checklist(name: str, appearance: Mapping[str, Any] | None) -> Checklist:
    """The checklist of a character from its name and appearance_data (missing keys are empty)."""
    appearance = appearance or {}
    return Checklist(name=name.strip(), species=str(appearance.get("species") or "").strip(),
                     gender=str(appearance.get("gender") or "").strip(),
                     key_colors=_items(appearance.get("key_colors")), key_features=_items(appearance.get("key_features")),
                     common_errors=_items(appearance.get("common_errors")))


@functools.lru_cache(maxsize=256)
def answer_model(check: Checklist) -> type[BaseModel]:
    """The answer's pydantic model for this checklist: its JSON schema is Ollama's `format`."""
    fields: dict[str, Any] = {}
    if check.ask_species:
        fields["species_match"] = (bool, ...)
    if check.ask_gender:
        fields["gender_match"] = (bool, ...)
    hits = (list[Literal[check.common_errors]] if check.common_errors
            else Annotated[list[str], Field(max_length=0)])
    fields.update(
        character_match=(Score, ...), solo=(bool, ...), completeness=(Literal[COMPLETENESS], ...),
        anatomical_defects=(Notes, ...), common_error_hits=(hits, ...), clarity=(Score, ...),
        training_value=(Score, ...), caption=(Annotated[str, Field(min_length=1, max_length=1000)], ...),
        issues=(Notes, ...))
    return create_model("VisionAnswer", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def answer_schema(check: Checklist) -> dict:
    return answer_model(check).model_json_schema()


def prompt(check: Checklist) -> str:
    """What the model is asked, from the checklist (the schema fixes the answer's shape)."""
    lines = [f'You review one image for the LoRA training dataset of the anime character "{check.name}".',
             "The character:"]
    for label, value in (("species", check.species), ("gender", check.gender),
                         ("key colours", ", ".join(check.key_colors)),
                         ("key features", ", ".join(check.key_features))):
        if value:
            lines.append(f"- {label}: {value}")
    lines += ["Answer these, as JSON only:"]
    if check.ask_species:
        lines.append(f"- species_match: true if the character shown is a {check.species}, not a human.")
    if check.ask_gender:
        lines.append(f"- gender_match: true if the character shown is {check.gender}.")
    lines += [
        f"- character_match (0-10): how surely this is {check.name} (colours, features).",
        "- solo: true if exactly one character is in the image.",
        "- completeness: full (whole body), upper (waist up), face (head only) or partial (cut off otherwise).",
        "- anatomical_defects: each visible anatomy error (extra or missing fingers or limbs, fused or broken "
        "parts); [] if none.",
    ]
    if check.common_errors:
        lines.append("- common_error_hits: which of these known errors appear: "
                     + "; ".join(check.common_errors) + ". [] if none.")
    else:
        lines.append("- common_error_hits: [] (no known errors are listed).")
    lines += [
        "- clarity (0-10): sharpness, lighting, no artefacts.",
        "- training_value (0-10): how useful the image is to train this character (clear view, pose, clean "
        "background).",
        f"- caption: a training caption of comma-separated tags, starting with {check.name}, describing pose, "
        "view, clothing and background.",
        "- issues: short notes on anything wrong; [] if none.",
    ]
    return "\n".join(lines)


# -- scoring (pure) -----------------------------------------------------------------------------

def capped_training_value(training_value: int, anatomical_defects: list, common_error_hits: list) -> int:
    if anatomical_defects or common_error_hits:
        return min(training_value, CAPPED_TRAINING_VALUE)
    return training_value


def quality_score(character_match: int, clarity: int, training_value: int, *, species_match: bool | None = None,
                  gender_match: bool | None = None) -> float:
    """(character_match + clarity + training_value) / 30; 0 when a species or gender check failed."""
    if species_match is False or gender_match is False:
        return 0.0
    return (character_match + clarity + training_value) / 30


def decide(quality: float, *, solo: bool, human: bool, auto_approve: float | None,
           auto_reject: float | None) -> Literal["approved", "rejected"] | None:
    if auto_reject is not None and quality < auto_reject:
        return "rejected"
    if auto_approve is not None and quality >= auto_approve and solo and human:
        return "approved"
    return None


@dataclass(frozen=True)
class VisionReview:
    scores: dict  # what images.scores stores
    quality: float
    solo: bool
    caption: str
    reason: str  # "vision: ...", the reason of a rejection


def reject_reason(answer: Mapping[str, Any], quality: float) -> str:
    parts = []
    if answer.get("species_match") is False:
        parts.append("wrong species")
    if answer.get("gender_match") is False:
        parts.append("wrong gender")
    parts += [str(i) for i in answer.get("issues") or []]
    text = f"vision: {', '.join(parts) if parts else f'low score {quality:.2f}'}"
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def score(answer: BaseModel, check: Checklist, model: str) -> VisionReview:
    data = answer.model_dump()
    data["training_value"] = capped_training_value(data["training_value"], data["anatomical_defects"],
                                                   data["common_error_hits"])
    quality = quality_score(data["character_match"], data["clarity"], data["training_value"],
                            species_match=data.get("species_match"), gender_match=data.get("gender_match"))
    scores = {"reviewer": "vision", "model": model, "quality": quality, **data}
    return VisionReview(scores=scores, quality=quality, solo=data["solo"], caption=data["caption"].strip(),
                        reason=reject_reason(data, quality))


def parse_answer(content: str, check: Checklist) -> BaseModel:
    """The validated answer, or VisionFailed naming what was wrong with it."""
    try:
        return answer_model(check).model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise VisionFailed(f"unusable answer from the model ({where}: {first['msg']})") from None


# -- the image ----------------------------------------------------------------------------------

def encode_image(path: Path, max_side: int = MAX_SIDE) -> bytes:
    """The image as PNG, upright, RGB (transparency over white), at most `max_side` px long."""
    with Image.open(path) as opened:
        opened.draft("RGB", (max_side, max_side))
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = image.convert("RGBA")
            flat = Image.new("RGB", image.size, "white")
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        elif image.mode != "RGB":
            image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()


# -- Ollama -------------------------------------------------------------------------------------

def client(settings: Settings, timeout: float = TIMEOUT_S) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=settings.ollama_host, timeout=httpx.Timeout(timeout, connect=CONNECT_S))


def _unreachable(settings: Settings, exc: BaseException) -> VisionUnavailable:
    return VisionUnavailable(f"Cannot reach Ollama at {settings.ollama_host} ({type(exc).__name__}); is it running?")


def _missing(settings: Settings) -> VisionModelMissing:
    return VisionModelMissing(f"Ollama at {settings.ollama_host} has no model '{settings.vision_model}' "
                              f"(run `ollama pull {settings.vision_model}` or set ANIME_STUDIO_VISION_MODEL)")


async def probe(ollama_client: ollama.AsyncClient, settings: Settings) -> None:
    """Raises VisionUnavailable or VisionModelMissing unless the model is there and reads images."""
    try:
        shown = await ollama_client.show(settings.vision_model)
    except ollama.ResponseError as exc:
        if exc.status_code == 404:
            raise _missing(settings) from None
        raise VisionUnavailable(f"Ollama at {settings.ollama_host} answered {exc.status_code}: {exc.error}") from None
    except (ConnectionError, httpx.HTTPError) as exc:
        raise _unreachable(settings, exc) from None
    capabilities = getattr(shown, "capabilities", None)
    if capabilities and "vision" not in capabilities:
        raise VisionModelMissing(f"The model '{settings.vision_model}' on {settings.ollama_host} cannot read images "
                                 f"(capabilities: {', '.join(capabilities)})", code="vision_model_not_multimodal")


async def ask(ollama_client: ollama.AsyncClient, settings: Settings, check: Checklist, image: bytes) -> VisionReview:
    """One image reviewed by the model: its scores, or VisionFailed (retry later); VisionUnavailable
    and VisionModelMissing when no image can be reviewed now."""
    try:
        response = await ollama_client.chat(
            model=settings.vision_model,
            messages=[{"role": "user", "content": prompt(check), "images": [image]}],
            format=answer_schema(check), options={"temperature": 0})
    except ollama.ResponseError as exc:
        if exc.status_code == 404:
            raise _missing(settings) from None
        raise VisionFailed(f"Ollama error: {exc.error}") from None
    except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _unreachable(settings, exc) from None
    except httpx.TimeoutException:
        raise VisionFailed(f"no answer within {TIMEOUT_S:.0f} s") from None
    except httpx.HTTPError as exc:
        raise VisionFailed(f"the answer broke off ({type(exc).__name__})") from None
    return score(parse_answer(response.message.content or "", check), check, settings.vision_model)


async def status(settings: Settings) -> dict:
    """{available, host, model, error}: whether the vision review can run now, and why not."""
    out = {"available": False, "host": settings.ollama_host, "model": settings.vision_model, "error": None}
    if not settings.ollama_host:
        out["error"] = "OLLAMA_HOST is not set: the metrics review scores images instead"
        return out
    try:
        async with client(settings, timeout=PROBE_S) as ollama_client:
            await probe(ollama_client, settings)
    except (VisionUnavailable, VisionModelMissing) as exc:
        out["error"] = exc.detail
        return out
    out["available"] = True
    return out
