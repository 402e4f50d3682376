"""Pixel's plan: the generation parameters the team hands over, as a JSON schema built from what the
target allows (GenerationCreate's bounds and the project's style for a character image; the shot's
fields for a shot). The schema goes to Ollama as `format` (structured output) and the answer is
validated against the same pydantic model, strictly; the user's edits (PATCH plan, approve) go
through the same model. Nothing is ever read out of prose."""

from __future__ import annotations

import functools
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model

from packages.core.errors import Invalid
from packages.scene_generation.schemas import ShotSeconds, ShotType, Transition
from packages.visual_pipeline.schemas import GenerationCreate

SQUARE = {"sd15": 512}  # the square size of an architecture; every other one is 1024 px
MAX_IMAGES = 4  # images one approved plan may queue
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _generation_type(field: str) -> Any:
    """A GenerationCreate field's own type with its bounds (without the `| None` of an override), so
    the plan never allows what a generation refuses."""
    annotation = GenerationCreate.model_fields[field].annotation
    if get_origin(annotation) in (Union, UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


class ShotPlan(_Plan):
    """A shot's prompt, motion and framing (the fields the Scene Builder's shot has)."""

    shot_type: ShotType
    camera_angle: Annotated[str, StringConstraints(max_length=200)]
    duration_s: ShotSeconds
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    negative_prompt: Annotated[str, StringConstraints(max_length=2000)]
    motion_prompt: Annotated[str, StringConstraints(max_length=1000)]
    transition: Transition


def sizes(style: dict | None) -> tuple[str, ...]:
    """The image sizes a project allows: its style's size, turned, and its architecture's square."""
    if style is None:
        return ("1024x1024",)
    width, height = style["width"], style["height"]
    square = SQUARE.get(style.get("architecture") or "", 1024)
    return tuple(dict.fromkeys((f"{width}x{height}", f"{height}x{width}", f"{square}x{square}")))


@functools.lru_cache(maxsize=64)
def _image_plan(allowed: tuple[str, ...]) -> type[BaseModel]:
    return create_model(
        "ImagePlan", __base__=_Plan,
        prompt=(Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)], ...),
        negative_extra=(_generation_type("negative_extra"), ...),
        size=(Literal[allowed], ...),  # type: ignore[valid-type]
        steps=(_generation_type("steps"), ...),
        cfg=(_generation_type("cfg"), ...),
        count=(Annotated[int, Field(ge=1, le=MAX_IMAGES)], ...),
    )


def plan_model(target_kind: str, style: dict | None) -> type[BaseModel]:
    return ShotPlan if target_kind == "shot" else _image_plan(sizes(style))


def answer_schema(plan: type[BaseModel]) -> dict:
    """Pixel's answer: a message for the team and the params, one flat schema (no $ref) so any
    structured-output engine follows it; `message` first so its text can stream."""
    return {"type": "object", "additionalProperties": False, "required": ["message", "params"],
            "properties": {"message": {"type": "string", "minLength": 1, "maxLength": 2000},
                           "params": plan.model_json_schema()}}


@functools.lru_cache(maxsize=64)
def answer_model(plan: type[BaseModel]) -> type[BaseModel]:
    return create_model("PixelAnswer", __base__=_Plan, message=(Message, ...), params=(plan, ...))


class PlanRejected(Exception):
    """Pixel's answer was not a valid plan; `why` names the first problem."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def _first(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}"


def parse_answer(content: str, plan: type[BaseModel]) -> BaseModel:
    try:
        return answer_model(plan).model_validate_json(content)
    except ValidationError as exc:
        raise PlanRejected(_first(exc)) from None


def check_params(params: Any, plan: type[BaseModel]) -> dict:
    """The user's params validated like Pixel's (a clear 422 naming the field otherwise)."""
    try:
        return plan.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise Invalid(f"The plan is not valid ({_first(exc)})", code="invalid_plan", field=field) from None


def generation_body(params: dict, character_id: int) -> GenerationCreate:
    """An approved image plan as a generation request for the character."""
    width, height = (int(v) for v in params["size"].split("x"))
    return GenerationCreate(character_id=character_id, kind="image", count=params["count"], prompt=params["prompt"],
                            width=width, height=height, steps=params["steps"], cfg=params["cfg"],
                            negative_extra=params["negative_extra"] or None)
