"""The six motion presets: a shot type, its usual camera angle and length, the camera move the
animatic engine makes for it, and curated motion prompts (the UI shows them as chips that fill
the shot's motion prompt)."""

from __future__ import annotations

from dataclasses import dataclass

SHOT_TYPES = ("establishing", "wide", "medium", "close-up", "extreme-close-up", "action")
ANIMATIC_MOTIONS = ("push-in", "pan", "tilt", "shake")


@dataclass(frozen=True)
class Preset:
    shot_type: str
    label: str
    camera_angle: str
    default_duration_s: float
    animatic_motion: str
    motion_prompts: tuple[str, ...]


PRESETS: dict[str, Preset] = {p.shot_type: p for p in (
    Preset("establishing", "Establishing", "high angle", 4.0, "pan", (
        "slow aerial pan across the landscape, clouds drifting",
        "camera glides forward over the rooftops, gentle parallax",
        "static wide view, light shifting across the scene",
    )),
    Preset("wide", "Wide", "eye level", 3.5, "pan", (
        "slow horizontal pan following the characters",
        "camera holds steady, wind moves hair and clothes",
        "gentle dolly out revealing the surroundings",
    )),
    Preset("medium", "Medium", "eye level", 3.0, "push-in", (
        "subtle push-in, character breathes and blinks",
        "character turns head toward the camera, soft smile",
        "handheld sway, natural idle motion",
    )),
    Preset("close-up", "Close-up", "eye level", 2.5, "push-in", (
        "slow push-in on the face, eyes glisten",
        "character looks up, hair strands move in the breeze",
        "blink and a small change of expression",
    )),
    Preset("extreme-close-up", "Extreme close-up", "eye level", 2.0, "tilt", (
        "very slow push-in on the eyes, pupils shift",
        "tiny tilt across the detail, light flickers",
        "rack focus onto the detail",
    )),
    Preset("action", "Action", "low angle", 2.5, "shake", (
        "fast motion, speed lines, camera shake on impact",
        "dynamic whip pan following the strike",
        "character dashes toward the camera, debris flies",
    )),
)}


def preset(shot_type: str) -> Preset:
    return PRESETS.get(shot_type) or PRESETS["medium"]
