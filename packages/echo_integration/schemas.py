"""Pydantic models of Echo Brain (chat, memory search, prompt enhancement, narration)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

MAX_MESSAGE_CHARS = 8000
Kind = Literal["storyline", "world", "character", "scene", "shot", "review", "note"]
KINDS: tuple[str, ...] = ("storyline", "world", "character", "scene", "shot", "review", "note")
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class Source(BaseModel):
    """One retrieved piece of project memory; `url` is the UI route that shows it."""

    kind: Kind
    id: int
    title: str
    snippet: str
    url: str
    score: float


class ConversationCreate(BaseModel):
    project: Slug
    title: Annotated[str, Field(max_length=200)] = ""


class ConversationSummary(BaseModel):
    id: int
    project_id: int
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class MessageRead(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    sources: list[Source]
    created_at: datetime


class ConversationRead(ConversationSummary):
    messages: list[MessageRead]


class MessageCreate(BaseModel):
    content: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class SearchRequest(BaseModel):
    project: Slug
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    limit: Annotated[int, Field(ge=1, le=50)] = 8


class EnhanceRequest(BaseModel):
    project: Slug
    prompt: Annotated[str, Field(min_length=1, max_length=4000)]
    character: Slug | None = None


class EnhanceRead(BaseModel):
    prompt: str
    original: str
    sources: list[Source]


NARRATE_FIELDS = {
    "storyline": ("title", "summary", "theme", "tone", "target_audience"),
    "world": ("setting", "art_direction", "cinematography", "negative_guidance"),
}


class NarrateRequest(BaseModel):
    project: Slug
    field: Annotated[str, Field(pattern=r"^(storyline\.(title|summary|theme|tone|target_audience)"
                                        r"|world\.(setting|art_direction|cinematography|negative_guidance))$")]
    mode: Literal["draft", "extend"] = "draft"
    storyline_id: int | None = None  # which storyline (default: the project's first)
    instructions: Annotated[str, Field(max_length=2000)] = ""


class ReindexRequest(BaseModel):
    project: Slug


class ReindexAccepted(BaseModel):
    project_id: int
    queued: bool


class OllamaStatus(BaseModel):
    configured: bool
    reachable: bool
    chat_model: str
    embed_model: str | None
    missing_models: list[str]


class MemoryStatus(BaseModel):
    backend: Literal["local", "server"]
    points: int | None  # None while the store opens (first status), or when it cannot be opened here (error)
    embedder: str
    error: str | None = None


class EchoStatus(BaseModel):
    ollama: OllamaStatus
    memory: MemoryStatus
