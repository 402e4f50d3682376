"""The prompt builder: the single source of truth for what a character's generation prompt is.

Every generation (dataset images, shots, previews) builds its prompt here, from the project's
default style, the character, and the character's LoRA trigger when it has one. There are no
per-character generation overrides. The rules, in order:

Positive
  1. The style's `positive_template` with `{prompt}` replaced by the character's design prompt
     (a template without `{prompt}` gets the design prompt appended after it).
  2. The quality tags `masterpiece, best quality`: each one the template does not already carry
     is appended.
  3. The LoRA trigger, when there is one.

Negative
  1. The style's `negative_template`.
  2. When the species contains "NOT human" (any case), the human-body terms
     `human, human skin, human face, human hands, humanoid body`.
  3. Every `common_errors` entry verbatim, each as one term (commas inside it are kept).

Both strings are then split into comma-separated terms (commas inside (), [], {} or <> do not
split, so a weighted group such as `(red eyes, blue hair:1.2)` stays whole) and
deduplicated keeping the first occurrence; terms compare case-insensitively with runs of
whitespace collapsed. Empty terms are dropped. Terms are joined with ", ".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

QUALITY_TAGS = ("masterpiece", "best quality")
HUMAN_BODY_NEGATIVES = ("human", "human skin", "human face", "human hands", "humanoid body")
NOT_HUMAN_MARKER = "not human"
PLACEHOLDER = "{prompt}"
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class PromptParts:
    style_positive: str  # the style's template as stored, `{prompt}` included
    design_prompt: str
    quality_tags: str  # the tags this builder appended ("" when the template had them all)
    style_negative: str
    character_negative: str  # human-body terms (non-human species) and common_errors


@dataclass(frozen=True)
class BuiltPrompt:
    positive: str
    negative: str
    checkpoint: str
    cfg: float
    steps: int
    sampler: str
    scheduler: str
    width: int
    height: int
    architecture: str
    style_id: int
    style_name: str
    trigger: str | None
    parts: PromptParts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_terms(text: str) -> list[str]:
    """Split at top-level commas (not inside brackets); strip each term and drop empty ones."""
    terms, current, depth = [], [], 0
    for char in text:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE and depth:
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def _key(term: str) -> str:
    return re.sub(r"\s+", " ", term).casefold()


def dedupe(terms: Iterable[str]) -> list[str]:
    """Keep the first occurrence of each term (case-insensitive, whitespace-collapsed)."""
    seen: set[str] = set()
    kept = []
    for term in terms:
        term = term.strip()
        if term and _key(term) not in seen:
            seen.add(_key(term))
            kept.append(term)
    return kept


def is_not_human(species: str | None) -> bool:
    return NOT_HUMAN_MARKER in (species or "").casefold()


def character_negatives(appearance: Mapping[str, Any] | None) -> list[str]:
    """The negatives a character adds on top of its style's (see the module rules)."""
    appearance = appearance or {}
    terms: list[str] = list(HUMAN_BODY_NEGATIVES) if is_not_human(appearance.get("species")) else []
    terms += [str(e).strip() for e in appearance.get("common_errors") or [] if str(e).strip()]
    return terms


def build_prompt(style: Mapping[str, Any], character: Mapping[str, Any], trigger: str | None = None) -> BuiltPrompt:
    """`style` is a generation_styles row, `character` a characters row (or any mapping with
    their keys); `trigger` is the character's LoRA trigger word or None."""
    template = style.get("positive_template") or ""
    design_prompt = (character.get("design_prompt") or "").strip()
    if PLACEHOLDER in template:
        filled = template.replace(PLACEHOLDER, design_prompt)
    else:
        filled = f"{template}, {design_prompt}"

    template_keys = {_key(t) for t in split_terms(template.replace(PLACEHOLDER, ""))}
    quality = [tag for tag in QUALITY_TAGS if _key(tag) not in template_keys]
    trigger = (trigger or "").strip() or None
    positive = dedupe([*split_terms(filled), *quality, *([trigger] if trigger else [])])

    style_negative = style.get("negative_template") or ""
    char_negative = character_negatives(character.get("appearance_data"))
    # common_errors entries are whole terms: they are not split at their commas
    negative = dedupe([*split_terms(style_negative), *char_negative])

    return BuiltPrompt(
        positive=", ".join(positive),
        negative=", ".join(negative),
        checkpoint=style["checkpoint"],
        cfg=float(style["cfg"]),
        steps=int(style["steps"]),
        sampler=style["sampler"],
        scheduler=style["scheduler"],
        width=int(style["width"]),
        height=int(style["height"]),
        architecture=style["architecture"],
        style_id=int(style["id"]),
        style_name=style["name"],
        trigger=trigger,
        parts=PromptParts(
            style_positive=template,
            design_prompt=design_prompt,
            quality_tags=", ".join(quality),
            style_negative=style_negative,
            character_negative=", ".join(char_negative),
        ),
    )
