"""Request and response shapes of the story domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# ComfyUI's KSampler choices (v0.33 /object_info), so a style is valid on a real server.
SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "exp_heun_2_x0",
    "exp_heun_2_x0_sde", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
    "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal"]
ARCHITECTURES = ["sd15", "sdxl", "pony", "illustrious", "flux"]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(max_length=200)]
Long = Annotated[str, StringConstraints(max_length=5000)]
ContentRating = Literal["all_ages", "teen", "mature"]
ProjectStatus = Literal["development", "production", "completed"]
Dimension = Annotated[int, Field(ge=64, le=4096, multiple_of=8)]
HexColour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- projects ---------------------------------------------------------------------------------

class ProjectCreate(Strict):
    name: Name
    slug: Slug
    description: Long = ""
    genre: Short = ""
    premise: Long = ""
    content_rating: ContentRating = "teen"
    status: ProjectStatus = "development"
    default_style_id: int | None = None


class ProjectUpdate(Strict):
    """All optional; the slug is immutable (it names folders). Archive with POST .../archive."""

    name: Name | None = None
    description: Long | None = None
    genre: Short | None = None
    premise: Long | None = None
    content_rating: ContentRating | None = None
    status: ProjectStatus | None = None
    default_style_id: int | None = None


class ProjectRead(BaseModel):
    id: int
    name: str
    slug: str
    description: str
    genre: str
    premise: str
    content_rating: ContentRating
    status: Literal["development", "production", "completed", "archived"]
    default_style_id: int | None
    default_style_name: str | None
    character_count: int
    cover_url: str | None
    created_at: datetime
    updated_at: datetime


# -- generation styles ------------------------------------------------------------------------

class StyleFields(Strict):
    @field_validator("positive_template", check_fields=False)
    @classmethod
    def _has_prompt_slot(cls, value: str | None) -> str | None:
        if value is not None and "{prompt}" not in value:
            raise ValueError("must contain {prompt}, where the character's design prompt goes")
        return value


class StyleCreate(StyleFields):
    name: Name
    checkpoint: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    cfg: Annotated[float, Field(ge=1, le=30)] = 7.0
    steps: Annotated[int, Field(ge=1, le=150)] = 28
    sampler: Literal[tuple(SAMPLERS)] = "euler_ancestral"  # type: ignore[valid-type]
    scheduler: Literal[tuple(SCHEDULERS)] = "normal"  # type: ignore[valid-type]
    width: Dimension = 832
    height: Dimension = 1216
    positive_template: Long = "masterpiece, best quality, {prompt}"
    negative_template: Long = ""
    architecture: Literal[tuple(ARCHITECTURES)] = "sdxl"  # type: ignore[valid-type]


class StyleUpdate(StyleFields):
    name: Name | None = None
    checkpoint: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None = None
    cfg: Annotated[float, Field(ge=1, le=30)] | None = None
    steps: Annotated[int, Field(ge=1, le=150)] | None = None
    sampler: Literal[tuple(SAMPLERS)] | None = None  # type: ignore[valid-type]
    scheduler: Literal[tuple(SCHEDULERS)] | None = None  # type: ignore[valid-type]
    width: Dimension | None = None
    height: Dimension | None = None
    positive_template: Long | None = None
    negative_template: Long | None = None
    architecture: Literal[tuple(ARCHITECTURES)] | None = None  # type: ignore[valid-type]


class StyleRead(BaseModel):
    id: int
    name: str
    checkpoint: str
    cfg: float
    steps: int
    sampler: str
    scheduler: str
    width: int
    height: int
    positive_template: str
    negative_template: str
    architecture: str
    created_at: datetime
    updated_at: datetime


class StyleOptions(BaseModel):
    samplers: list[str]
    schedulers: list[str]
    architectures: list[str]


# -- storylines -------------------------------------------------------------------------------

class Arc(Strict):
    title: Name
    summary: Long = ""


class StorylineCreate(Strict):
    project_id: int
    title: Name
    summary: Long = ""
    theme: Short = ""
    tone: Short = ""
    target_audience: Short = ""
    arcs: Annotated[list[Arc], Field(max_length=50)] = []


class StorylineUpdate(Strict):
    title: Name | None = None
    summary: Long | None = None
    theme: Short | None = None
    tone: Short | None = None
    target_audience: Short | None = None
    arcs: Annotated[list[Arc], Field(max_length=50)] | None = None


class StorylineRead(BaseModel):
    id: int
    project_id: int
    title: str
    summary: str
    theme: str
    tone: str
    target_audience: str
    arcs: list[Arc]
    created_at: datetime
    updated_at: datetime


# -- world settings ---------------------------------------------------------------------------

class Palette(Strict):
    name: Name
    colors: Annotated[list[HexColour], Field(max_length=16)] = []


class WorldSettingsWrite(Strict):
    setting: Long | None = None
    art_direction: Long | None = None
    cinematography: Long | None = None
    palettes: Annotated[list[Palette], Field(max_length=20)] | None = None
    negative_guidance: Long | None = None


class WorldSettingsRead(BaseModel):
    id: int | None  # None until the project's world settings are first saved
    project_id: int
    setting: str = ""
    art_direction: str = ""
    cinematography: str = ""
    palettes: list[Palette] = []
    negative_guidance: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
