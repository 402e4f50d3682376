"""The vision review's pure rules (packages/approval/vision.py): the checklist from
appearance_data, the answer schema sent as Ollama's `format` and the strict validation of the
answer, the score (caps and gates) and the decision."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from packages.approval import vision
from packages.approval.vision import (Checklist, VisionFailed, answer_schema, capped_training_value, checklist,
                                      decide, is_human, parse_answer, quality_score, score)

HUMAN = checklist("Mei", {"species": "human", "gender": "female", "key_colors": ["silver hair", "red eyes"],
                          "key_features": ["school uniform"], "common_errors": ["blue eyes", "short hair"]})
FOX = checklist("Kitsune", {"species": "fox spirit (NOT human)", "gender": "", "common_errors": []})


def answer(check: Checklist = HUMAN, **fields) -> dict:
    base = {"character_match": 9, "clarity": 9, "training_value": 9, "solo": True, "completeness": "full",
            "anatomical_defects": [], "common_error_hits": [], "caption": "Mei, standing, school uniform",
            "issues": []}
    if check.ask_species:
        base["species_match"] = True
    if check.ask_gender:
        base["gender_match"] = True
    base.update(fields)
    return base


@pytest.mark.parametrize("species, human", [
    ("", True), ("human", True), ("Humanoid", True), ("human girl", True), ("elf", False),
    ("fox spirit (NOT human)", False), ("non-human android", False), ("cat", False), ("  ", True),
])
def test_who_counts_as_human(species, human):
    """A character is human when its species is empty or names human/humanoid without negating it."""
    assert is_human(species) is human


def test_checklist_takes_appearance_data_and_asks_species_and_gender_only_when_they_apply():
    """species_match is asked only for a non-human species, gender_match only when a gender is set;
    list entries are stripped and deduplicated, missing keys are empty."""
    assert HUMAN.key_colors == ("silver hair", "red eyes") and HUMAN.common_errors == ("blue eyes", "short hair")
    assert (HUMAN.ask_species, HUMAN.ask_gender, HUMAN.human) == (False, True, True)
    assert (FOX.ask_species, FOX.ask_gender, FOX.human) == (True, False, False)
    bare = checklist("X", None)
    assert bare == Checklist(name="X") and not bare.ask_gender and not bare.ask_species
    assert checklist("Y", {"key_features": [" wings ", "Wings", ""]}).key_features == ("wings",)


def test_schema_lists_the_fields_ranges_and_the_characters_common_errors():
    """The format sent to Ollama: every field required, no others, scores integers 0-10,
    completeness an enum, common_error_hits limited to the character's common_errors."""
    schema = answer_schema(HUMAN)
    props = schema["properties"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == set(props) == {
        "character_match", "clarity", "training_value", "solo", "completeness", "anatomical_defects",
        "common_error_hits", "caption", "issues", "gender_match"}
    for name in ("character_match", "clarity", "training_value"):
        assert (props[name]["type"], props[name]["minimum"], props[name]["maximum"]) == ("integer", 0, 10)
    assert props["completeness"]["enum"] == ["full", "upper", "face", "partial"]
    assert props["common_error_hits"]["items"]["enum"] == ["blue eyes", "short hair"]
    fox = answer_schema(FOX)
    assert "species_match" in fox["required"] and "gender_match" not in fox["properties"]
    assert fox["properties"]["common_error_hits"]["maxItems"] == 0
    json.dumps(schema)  # it travels as JSON


def test_prompt_carries_the_checklist():
    """The question names the character, its colours, features and common errors, and the species
    check for a non-human character."""
    text = vision.prompt(HUMAN)
    assert "Mei" in text and "silver hair" in text and "school uniform" in text and "short hair" in text
    assert "species_match" not in text and "gender_match" in text
    assert "species_match" in vision.prompt(FOX) and "fox spirit" in vision.prompt(FOX)


@pytest.mark.parametrize("content, where", [
    ("not json at all", "answer"),
    (json.dumps({k: v for k, v in answer().items() if k != "clarity"}), "clarity"),
    (json.dumps(answer(clarity=11)), "clarity"),
    (json.dumps(answer(character_match=-1)), "character_match"),
    (json.dumps(answer(training_value=7.5)), "training_value"),
    (json.dumps(answer(solo="yes")), "solo"),
    (json.dumps(answer(completeness="knees")), "completeness"),
    (json.dumps(answer(common_error_hits=["green hair"])), "common_error_hits"),
    (json.dumps(answer(species_match=True)), "species_match"),  # not asked for a human character
    (json.dumps(answer(caption="")), "caption"),
    ('{"character_match": 9, "clarity": ', "answer"),
])
def test_an_unusable_answer_is_a_failed_review_never_a_default(content, where):
    """Invalid JSON, a missing or extra field, a wrong type or an out-of-range number raises
    VisionFailed naming the problem; nothing is scored."""
    with pytest.raises(VisionFailed) as failed:
        parse_answer(content, HUMAN)
    assert where in str(failed.value) or where == "answer"


def test_non_human_answer_needs_species_match():
    """For a non-human character an answer without species_match is unusable."""
    with pytest.raises(VisionFailed):
        parse_answer(json.dumps({k: v for k, v in answer(FOX).items() if k != "species_match"}), FOX)
    assert parse_answer(json.dumps(answer(FOX)), FOX).species_match is True


def test_quality_is_the_mean_of_the_three_scores_over_30():
    """quality = (character_match + clarity + training_value) / 30."""
    assert quality_score(9, 6, 6) == pytest.approx(0.7)
    assert quality_score(10, 10, 10) == 1.0 and quality_score(0, 0, 0) == 0.0


def test_failed_species_or_gender_check_zeroes_quality():
    """A failed species check or a gender mismatch makes quality 0 whatever the other scores."""
    assert quality_score(10, 10, 10, species_match=False) == 0.0
    assert quality_score(10, 10, 10, gender_match=False) == 0.0
    assert quality_score(10, 10, 10, species_match=True, gender_match=True) == 1.0


def test_defects_or_common_error_hits_cap_training_value_before_quality():
    """Anatomy defects or common-error hits cap training_value at 2, and quality uses the capped value."""
    assert capped_training_value(9, ["six fingers"], []) == 2
    assert capped_training_value(9, [], ["blue eyes"]) == 2
    assert capped_training_value(1, ["x"], []) == 1 and capped_training_value(9, [], []) == 9
    review = score(parse_answer(json.dumps(answer(anatomical_defects=["six fingers"])), HUMAN), HUMAN, "gemma3")
    assert review.scores["training_value"] == 2 and review.quality == pytest.approx((9 + 9 + 2) / 30)


def test_stored_scores_have_the_vision_shape():
    """images.scores of a vision review: reviewer 'vision', the model, quality and every answer
    field; species_match only when asked."""
    review = score(parse_answer(json.dumps(answer(FOX)), FOX), FOX, "gemma3")
    assert review.scores == {"reviewer": "vision", "model": "gemma3", "quality": pytest.approx(0.9),
                             "species_match": True, "character_match": 9, "clarity": 9, "training_value": 9,
                             "solo": True, "completeness": "full", "anatomical_defects": [], "common_error_hits": [],
                             "caption": "Mei, standing, school uniform", "issues": []}
    assert "metrics_only" not in review.scores


def test_reject_reason_names_the_issues_or_the_low_score():
    """The reason is "vision: <issues>", the failed checks first, or "vision: low score q"."""
    gender = score(parse_answer(json.dumps(answer(gender_match=False, issues=["looks male"])), HUMAN), HUMAN, "m")
    assert gender.quality == 0 and gender.reason == "vision: wrong gender, looks male"
    low = score(parse_answer(json.dumps(answer(character_match=1, clarity=2, training_value=3)), HUMAN), HUMAN, "m")
    assert low.reason == "vision: low score 0.20"


@pytest.mark.parametrize("quality, solo, human, expected", [
    (0.39, True, True, "rejected"), (0.4, True, True, None), (0.79, True, True, None),
    (0.8, True, True, "approved"), (0.95, False, True, None), (0.95, True, False, None), (0.1, True, False, "rejected"),
])
def test_decision_follows_the_gates_and_never_auto_approves_non_humans(quality, solo, human, expected):
    """Below auto_reject: rejected; at or above auto_approve, solo and human: approved; otherwise
    none (a non-human character or a group picture is never auto-approved)."""
    assert decide(quality, solo=solo, human=human, auto_approve=0.8, auto_reject=0.4) == expected


def test_image_is_sent_downsized_png(tmp_path):
    """The image sent is a PNG whose long side is at most 1024 px (transparency flattened); a
    small one keeps its size."""
    big = tmp_path / "big.png"
    Image.new("RGBA", (3000, 1500), (200, 10, 10, 128)).save(big)
    sent = Image.open(io.BytesIO(vision.encode_image(big)))
    assert sent.format == "PNG" and sent.size == (1024, 512) and sent.mode == "RGB"
    small = tmp_path / "small.jpg"
    Image.new("RGB", (640, 800), "blue").save(small)
    assert Image.open(io.BytesIO(vision.encode_image(small))).size == (640, 800)
