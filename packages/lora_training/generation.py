"""What generation takes from training: the character's active LoRA as a LoraLoader entry (the
file name as ComfyUI's loras folder lists it) and its trigger word appended to the prompt (the
prompt builder's rule 3). A LoRA trained on another architecture than the style's checkpoint
(SD1.5 vs SDXL) is not applied: ComfyUI would load none of its keys."""

from __future__ import annotations

import dataclasses

import asyncpg

from packages.characters.prompt import BuiltPrompt, dedupe, split_terms
from packages.lora_training import queries

LORA_STRENGTH = 1.0


async def with_active_lora(conn: asyncpg.Connection, character_id: int | None,
                           prompt: BuiltPrompt) -> tuple[BuiltPrompt, list[tuple[str, float]]]:
    """(the prompt with the trigger, [(lora file name, strength)]) for the character's active LoRA."""
    if character_id is None:
        return prompt, []
    lora = await queries.active_lora(conn, character_id)
    if lora is None or (prompt.architecture and lora["architecture"] != prompt.architecture):
        return prompt, []
    if lora["trigger"]:
        positive = ", ".join(dedupe([*split_terms(prompt.positive), lora["trigger"]]))
        prompt = dataclasses.replace(prompt, positive=positive, trigger=lora["trigger"])
    return prompt, [(lora["name"], LORA_STRENGTH)]
