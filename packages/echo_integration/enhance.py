"""Prompt enhancement: rewrites a generation prompt within the project's style and, when one is
named, the character's design. The answer is structured output (a JSON schema as Ollama's
`format`) validated strictly; project text reaches the model quoted as data."""

from __future__ import annotations

import json

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from packages.core.errors import NotFound
from packages.core.settings import Settings
from packages.echo_integration import llm, queries, service
from packages.echo_integration.chat import DATA_RULE, data_block
from packages.echo_integration.schemas import EnhanceRead, EnhanceRequest, Source

SYSTEM_PROMPT = (
    "You rewrite image-generation prompts for an anime studio (Stable Diffusion style: comma-separated tags and "
    "short phrases). Keep the user's subject and intent, add concrete visual detail consistent with the project's "
    "style and, when given, the character's design (hair, eyes, clothing, colours). Never contradict the "
    "character's design. Do not include quality tags the style template already adds. Answer with JSON "
    '{"prompt": "..."} only. ' + DATA_RULE
)


class Enhanced(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=4000)


def _style_source(style) -> str:
    return json.dumps({"style": style["name"], "positive_template": style["positive_template"],
                       "negative_template": style["negative_template"], "architecture": style["architecture"]},
                      ensure_ascii=False)


async def enhance(conn: asyncpg.Connection, settings: Settings, body: EnhanceRequest) -> EnhanceRead:
    project = await service.project_of(conn, body.project)
    llm.client(settings)  # no Ollama: say so now, before seconds of retrieval
    character = None
    if body.character:
        character = await queries.character_by_slug(conn, project["id"], body.character)
        if character is None:
            raise NotFound("No character with that slug in this project", code="character_not_found")
    sources, texts = await service.retrieve(settings, project["id"], body.prompt, limit=4)
    if character is not None:  # the named character's design leads, whatever retrieval found
        sources = [s for s in sources if not (s.kind == "character" and s.id == character["id"])]
        look = character["appearance_data"] or {}
        design = {"name": character["name"], "design_prompt": character["design_prompt"],
                  **{k: look.get(k) for k in ("species", "gender", "key_colors", "key_features") if look.get(k)}}
        lead = Source(kind="character", id=character["id"], title=character["name"],
                      snippet=character["design_prompt"][:280], url=f"/p/{project['slug']}/characters/{character['slug']}",
                      score=1.0)
        sources = [lead, *sources]
        texts = {**texts, ("character", character["id"]): json.dumps(design, ensure_ascii=False)}
    style = await queries.project_style(conn, project["id"])
    style_text = f"\nProject style (data): {_style_source(style)}" if style else ""
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"{data_block(sources, texts)}{style_text}\n\n"
                                            f"Prompt to rewrite (JSON string): {json.dumps(body.prompt)}"}]
    raw = await llm.ollama_answer(settings, messages, format=Enhanced.model_json_schema())
    try:
        result = Enhanced.model_validate_json(raw)
    except ValidationError as exc:
        raise llm.EchoFailed("The model's answer was not the requested JSON {prompt}; try again or pick another "
                             "model", code="bad_model_answer") from exc
    return EnhanceRead(prompt=result.prompt.strip(), original=body.prompt, sources=sources)
