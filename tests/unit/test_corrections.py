"""Auto-correction's pure rules: the strategy chosen for each rejection reason (all seven), the
overrides each strategy plans, and the effective parameters read back from a submitted workflow."""

from __future__ import annotations

import pytest

from packages.approval.corrections import STRATEGIES, effective_params, plan, strategy_for
from packages.approval.schemas import REASONS
from packages.characters.prompt import build_prompt
from packages.visual_pipeline import builder

STYLE = {"checkpoint": "model.safetensors", "cfg": 6.5, "steps": 28, "sampler": "euler_ancestral",
         "scheduler": "normal", "width": 832, "height": 1216, "positive_template": "{prompt}",
         "negative_template": "lowres", "architecture": "sdxl", "id": 1, "name": "Style"}
BEFORE = {"seed": 41, "steps": 28, "cfg": 6.5, "width": 832, "height": 1216, "prompt": "smiling",
          "negative_extra": "", "ip_adapter_weight": 0.7}


@pytest.mark.parametrize(("reason", "strategy"), [
    ("wrong_character", "fix_appearance"), ("wrong_species", "fix_appearance"), ("anatomy", "fix_quality"),
    ("blur", "fix_blur"), ("not_solo", "fix_solo"), ("style", "fix_quality"), ("other", "fix_quality"),
    (None, "fix_quality"),
    ("metrics: blurry", "fix_blur"), ("metrics: blurry, too dark", "fix_blur"),
    ("metrics: too dark", "fix_brightness"), ("metrics: overexposed", "fix_brightness"),
    ("metrics: low contrast", "fix_contrast"), ("metrics: low resolution", "fix_resolution"),
    ("metrics: low resolution, blurry", "fix_resolution"), ("metrics: low quality", "fix_quality"),
    ("vision: two people in the frame", "fix_solo"), ("vision: hair colour is off-model", "fix_appearance"),
    ("vision: the image is out of focus", "fix_blur"), ("vision: washed out, flat colors", "fix_contrast"),
])
def test_each_reason_picks_its_strategy(reason, strategy):
    """Human chips, metrics issues and vision text each map to one of the seven strategies;
    anything unknown is fix_quality."""
    assert strategy_for(reason) == strategy


def test_every_human_chip_is_mapped_and_all_seven_strategies_are_reachable():
    """No reject chip falls through to the default by accident, and every strategy has a reason."""
    chips = {code for code, _ in REASONS}
    assert {strategy_for(c) for c in chips} <= set(STRATEGIES)
    reached = {strategy_for(r) for r in [*chips, "metrics: low resolution", "metrics: too dark",
                                         "metrics: low contrast"]}
    assert reached == set(STRATEGIES)


def _plan(strategy, reason=None, **kw):
    return plan(strategy, dict(BEFORE), reason=reason, style=STYLE, **kw)


def test_every_plan_moves_the_seed_by_one_and_keeps_the_rest_valid():
    """Each strategy regenerates with seed + 1 (wrapping at 2^32) and sizes that are multiples of 8."""
    for strategy in STRATEGIES:
        after = _plan(strategy)
        assert after["seed"] == 42
        assert after["width"] % 8 == 0 and after["height"] % 8 == 0
    assert plan("fix_quality", {**BEFORE, "seed": 2**32 - 1}, reason=None, style=STYLE)["seed"] == 0


def test_quality_and_blur_add_steps_blur_adds_negatives():
    """fix_quality raises steps and cfg; fix_blur raises steps and adds 'blurry, out of focus'."""
    quality = _plan("fix_quality")
    assert quality["steps"] > 28 and quality["cfg"] > 6.5 and quality["negative_extra"] == ""
    blur = _plan("fix_blur")
    assert blur["steps"] > 28 and blur["cfg"] == 6.5
    assert "blurry" in blur["negative_extra"] and "out of focus" in blur["negative_extra"]
    assert blur["prompt"].startswith("smiling, ") and "sharp focus" in blur["prompt"]


def test_resolution_grows_within_the_style_limit():
    """fix_resolution grows each side by 25% (multiple of 8), never past 1.5x the style's side."""
    after = _plan("fix_resolution")
    assert (after["width"], after["height"]) == (1040, 1520)
    capped = plan("fix_resolution", {**BEFORE, "width": 1240, "height": 1824}, reason=None, style=STYLE)
    assert (capped["width"], capped["height"]) == (1248, 1824)


def test_brightness_follows_the_direction_contrast_and_solo_add_terms():
    """Too dark asks for light; overexposed asks for soft light; contrast and solo add their terms."""
    assert "underexposed" in _plan("fix_brightness", "metrics: too dark")["negative_extra"]
    assert "overexposed" in _plan("fix_brightness", "metrics: overexposed")["negative_extra"]
    assert "low contrast" in _plan("fix_contrast")["negative_extra"]
    solo = _plan("fix_solo")
    assert "solo" in solo["prompt"] and "2girls" in solo["negative_extra"] and "multiple people" in solo["negative_extra"]


def test_appearance_weights_design_terms_and_raises_ip_adapter_weight():
    """fix_appearance adds the key features with weight 1.2 and raises the IP-Adapter weight (max 1)."""
    after = _plan("fix_appearance", appearance={"key_features": ["silver hair", "red eyes"]})
    assert "(silver hair:1.2)" in after["prompt"] and "(red eyes:1.2)" in after["prompt"]
    assert after["ip_adapter_weight"] == 0.85
    from_design = plan("fix_appearance", {**BEFORE, "ip_adapter_weight": 0.95}, reason=None, style=STYLE,
                       design_prompt="1girl, cat ears")
    assert "(cat ears:1.2)" in from_design["prompt"] and from_design["ip_adapter_weight"] == 1.0


def test_effective_params_are_read_from_the_submitted_workflow():
    """The values a generation was made with come from its workflow (e.g. after an OOM downsize),
    not only from its params."""
    built = builder.build_image_workflow(build_prompt(STYLE, {"design_prompt": "1girl"}), seed=7, width=624,
                                         height=912, reference_images=["ref.png"], filename_prefix="x/y")
    got = effective_params({"seed": 7, "width": 832, "height": 1216, "prompt": "smiling"}, built.workflow, STYLE)
    assert got == {"seed": 7, "steps": 28, "cfg": 6.5, "width": 624, "height": 912, "prompt": "smiling",
                   "negative_extra": "", "ip_adapter_weight": 0.7}
