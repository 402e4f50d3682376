"""The prompt builder (packages/characters/prompt.py) is the single source of truth for
generation prompts; these tests pin each of its rules."""

from __future__ import annotations

from packages.characters.prompt import HUMAN_BODY_NEGATIVES, build_prompt, dedupe, split_terms

STYLE = {
    "id": 7, "name": "Anime XL", "checkpoint": "animagine-xl-3.1.safetensors", "cfg": 6.5, "steps": 28,
    "sampler": "euler_ancestral", "scheduler": "normal", "width": 832, "height": 1216, "architecture": "sdxl",
    "positive_template": "anime style, {prompt}, detailed background",
    "negative_template": "lowres, bad anatomy, watermark",
}


def character(design_prompt="1girl, silver hair, red eyes", **appearance) -> dict:
    return {"design_prompt": design_prompt, "appearance_data": appearance}


def test_design_prompt_replaces_the_placeholder_then_quality_tags_are_appended():
    """positive = template with {prompt} replaced by the design prompt, then the quality tags."""
    built = build_prompt(STYLE, character())
    assert built.positive == ("anime style, 1girl, silver hair, red eyes, detailed background, "
                              "masterpiece, best quality")
    assert built.parts.quality_tags == "masterpiece, best quality"
    assert built.parts.design_prompt == "1girl, silver hair, red eyes"
    assert built.parts.style_positive == STYLE["positive_template"]


def test_quality_tags_the_template_already_has_are_not_added_again():
    """A quality tag is appended only when the style template does not already carry it."""
    style = {**STYLE, "positive_template": "Masterpiece, {prompt}"}
    built = build_prompt(style, character("1girl"))
    assert built.positive == "Masterpiece, 1girl, best quality"
    assert built.parts.quality_tags == "best quality"
    style = {**STYLE, "positive_template": "masterpiece, best quality, {prompt}"}
    assert build_prompt(style, character("1girl")).positive == "masterpiece, best quality, 1girl"


def test_trigger_comes_last_and_only_when_present():
    """The LoRA trigger is appended after the quality tags when the character has one."""
    assert build_prompt(STYLE, character("1girl"), trigger="yukiko_v1").positive.endswith(
        "masterpiece, best quality, yukiko_v1")
    without = build_prompt(STYLE, character("1girl"), trigger=None)
    assert without.trigger is None and "yukiko" not in without.positive


def test_template_without_placeholder_gets_the_design_prompt_appended():
    """A template lacking {prompt} still carries the design prompt (after the template)."""
    built = build_prompt({**STYLE, "positive_template": "anime style"}, character("1girl"))
    assert built.positive == "anime style, 1girl, masterpiece, best quality"


def test_human_character_gets_only_the_style_negatives():
    """A human character adds no human-body negatives."""
    built = build_prompt(STYLE, character(species="human"))
    assert built.negative == "lowres, bad anatomy, watermark"
    assert built.parts.character_negative == ""


def test_not_human_species_adds_human_body_negatives_in_any_case():
    """A species containing "NOT human" (any case) adds the human-body terms after the style's."""
    for species in ("cat spirit (NOT human)", "dragon, not human", "Not Human robot"):
        built = build_prompt(STYLE, character(species=species))
        assert built.negative == "lowres, bad anatomy, watermark, " + ", ".join(HUMAN_BODY_NEGATIVES)
    assert "human face" not in build_prompt(STYLE, character(species="nothuman-ish elf")).negative


def test_common_errors_are_added_verbatim_each_as_one_term():
    """Every common_errors entry reaches the negative exactly as written, commas included."""
    errors = ["wrong tail colour, tail on the left", "Extra Fingers", "(missing scar:1.3)"]
    built = build_prompt(STYLE, character(species="fox, NOT human", common_errors=errors))
    for entry in errors:
        assert entry in built.negative
    assert built.negative.endswith("humanoid body, wrong tail colour, tail on the left, Extra Fingers, "
                                   "(missing scar:1.3)")
    assert built.parts.character_negative == ", ".join([*HUMAN_BODY_NEGATIVES, *errors])


def test_terms_are_deduplicated_keeping_the_first_occurrence():
    """Repeated comma-separated terms (case and spacing aside) appear once, where first seen."""
    style = {**STYLE, "positive_template": "masterpiece, {prompt}", "negative_template": "lowres, human, Bad  Anatomy"}
    built = build_prompt(style, character("1girl, MASTERPIECE, 1girl, red eyes",
                                          species="NOT human", common_errors=["bad anatomy", "lowres"]))
    assert built.positive == "masterpiece, 1girl, red eyes, best quality"
    assert built.negative == "lowres, human, Bad  Anatomy, human skin, human face, human hands, humanoid body"


def test_weighted_groups_are_not_split_at_their_commas():
    """Commas inside (), [] or {} do not split a term, so weights survive deduplication."""
    assert split_terms("a, (b, c:1.2), [d, e], f,, ") == ["a", "(b, c:1.2)", "[d, e]", "f"]
    assert dedupe(["a", "A", " a ", "b"]) == ["a", "b"]


def test_style_settings_are_passed_through():
    """Checkpoint, sampler settings, size and architecture come from the style unchanged."""
    built = build_prompt(STYLE, character())
    assert (built.checkpoint, built.cfg, built.steps, built.sampler, built.scheduler) == (
        "animagine-xl-3.1.safetensors", 6.5, 28, "euler_ancestral", "normal")
    assert (built.width, built.height, built.architecture, built.style_id, built.style_name) == (
        832, 1216, "sdxl", 7, "Anime XL")
    assert built.parts.style_negative == "lowres, bad anatomy, watermark"


def test_empty_design_prompt_leaves_no_empty_terms():
    """A character without a design prompt yields no stray commas."""
    built = build_prompt(STYLE, {"design_prompt": "", "appearance_data": {}})
    assert built.positive == "anime style, detailed background, masterpiece, best quality"
