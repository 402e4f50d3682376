"""Planning a clip from one line (packages/scene_generation/clip.py)."""

from __future__ import annotations

import pytest

from packages.scene_generation.clip import Plan, PlannedShot, _fitted, even_split


def test_even_split_makes_shots_of_at_most_five_seconds():
    """Without a story model a clip is ceil(duration / 5) equal shots, an establishing one first,
    summing to the duration."""
    shots = even_split("warrior in mystical forest", 30)
    assert [s.duration_s for s in shots] == [5.0] * 6 and shots[0].shot_type == "establishing"
    shots = even_split("x", 7)
    assert [s.duration_s for s in shots] == [3.5, 3.5]
    assert [s.duration_s for s in even_split("x", 2)] == [2.0]


def test_a_model_plan_is_scaled_to_the_requested_length():
    """The story model's shot lengths are scaled to the clip's duration, each kept within 1-5 s,
    and each shot's prompt keeps the user's words; a plan that cannot fill the duration within
    those limits falls back to the even split."""
    plan = Plan(shots=[PlannedShot(shot_type="wide", description="a forest", motion_prompt="", duration_s=2.0),
                       PlannedShot(shot_type="action", description="a sword", motion_prompt="pan", duration_s=4.0)])
    shots = _fitted(plan, "warrior", 4.5)
    assert [s.duration_s for s in shots] == pytest.approx([1.5, 3.0])
    assert [s.prompt for s in shots] == ["warrior, a forest", "warrior, a sword"]
    # 9 s: 3 s and 6 s, but a shot is at most 5 s, so 8 s in all: split evenly instead
    assert [s.duration_s for s in _fitted(plan, "warrior", 9)] == [4.5, 4.5]
    long = _fitted(plan, "warrior", 30)  # two shots cannot make 30 s: 6 even shots instead
    assert [s.duration_s for s in long] == [5.0] * 6
