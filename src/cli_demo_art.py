"""Pictures for `anime-studio demo`, drawn with Pillow (no model, no network): a reference sheet per
character (front, side and back views with colour swatches) and a keyframe per scene (a sky, a
street and the characters in it). Every figure is built from a few shapes chosen by its `Figure`,
so the characters differ in height, build, head, hair and colours at a glance.

Keyframes carry a fine film grain: the shot gate scores frames on the CPU (sharpness, exposure,
contrast, resolution; packages/approval/metrics.py) and a flat drawing would read as blurry."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
KEYFRAME_SIZE = (960, 544)
SHEET_SIZE = (1152, 768)


@dataclass(frozen=True)
class Figure:
    name: str
    height: float  # 1.0 is the tallest
    build: float  # body width relative to height
    skin: Colour
    hair: Colour
    outfit: Colour
    accent: Colour
    hair_style: str  # "spiky" | "twin-tails" | "ears"
    outfit_style: str  # "jacket" | "dress" | "fur"
    tail: bool = False


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _spikes(cx: float, top: float, r: float, count: int = 7) -> list[tuple[float, float]]:
    points = []
    for i in range(count * 2 + 1):
        x = cx - r * 1.1 + (2.2 * r) * i / (count * 2)
        y = top - (r * 0.55 if i % 2 else -r * 0.35)
        points.append((x, y))
    return [(cx - r * 1.1, top + r * 0.6), *points, (cx + r * 1.1, top + r * 0.6)]


def draw_figure(draw: ImageDraw.ImageDraw, fig: Figure, cx: float, ground: float, size: float,
                view: str = "front") -> None:
    """Draws `fig` standing on `ground`, centred on `cx`, `size` pixels for height 1.0.
    `view`: front, side (facing right) or back."""
    h = size * fig.height
    head_r = h * 0.12
    body_w = h * fig.build * (0.6 if view == "side" else 1.0)
    leg_top, hip = ground - h * 0.38, ground - h * 0.36
    shoulder = ground - h * 0.72
    head_cy = shoulder - head_r * 0.95
    line = tuple(max(0, c - 90) for c in fig.outfit)
    if fig.tail:  # behind everything
        sway = -1 if view == "side" else 1
        draw.line([(cx + sway * body_w * 0.4, hip), (cx + sway * body_w * 1.1, hip - h * 0.15),
                   (cx + sway * body_w * 0.9, hip - h * 0.4)], fill=fig.outfit, width=max(3, int(h * 0.05)))
    legs = [cx] if view == "side" else [cx - body_w * 0.22, cx + body_w * 0.22]
    for x in legs:
        draw.rectangle([x - h * 0.045, leg_top, x + h * 0.045, ground], fill=fig.accent if fig.outfit_style != "fur"
                       else fig.outfit, outline=line)
    if fig.outfit_style == "dress":
        body = [(cx - body_w * 0.3, shoulder), (cx + body_w * 0.3, shoulder), (cx + body_w * 0.75, hip + h * 0.06),
                (cx - body_w * 0.75, hip + h * 0.06)]
        draw.polygon(body, fill=fig.outfit, outline=line)
    elif fig.outfit_style == "fur":
        draw.ellipse([cx - body_w * 0.5, shoulder - h * 0.02, cx + body_w * 0.5, hip + h * 0.04], fill=fig.outfit,
                     outline=line)
    else:
        body = [(cx - body_w * 0.5, shoulder), (cx + body_w * 0.5, shoulder), (cx + body_w * 0.4, hip),
                (cx - body_w * 0.4, hip)]
        draw.polygon(body, fill=fig.outfit, outline=line)
        if view != "back":
            draw.line([(cx, shoulder), (cx, hip)], fill=fig.accent, width=max(2, int(h * 0.015)))
    arm_w = max(3, int(h * 0.05))
    arms = [1] if view == "side" else [-1, 1]
    for side in arms:
        x0 = cx + side * body_w * (0.15 if view == "side" else 0.5)
        draw.line([(x0, shoulder + h * 0.02), (x0 + side * h * 0.06, hip - h * 0.02)], fill=fig.outfit, width=arm_w)
        draw.ellipse([x0 + side * h * 0.06 - arm_w * 0.7, hip - h * 0.02 - arm_w * 0.7,
                      x0 + side * h * 0.06 + arm_w * 0.7, hip - h * 0.02 + arm_w * 0.7], fill=fig.skin)
    head = [cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r]
    if fig.hair_style == "twin-tails":
        for side in ([-1] if view == "side" else [-1, 1]):
            tx = cx + side * head_r * 1.25
            draw.ellipse([tx - head_r * 0.55, head_cy - head_r * 0.2, tx + head_r * 0.55, head_cy + head_r * 1.6],
                         fill=fig.hair)
    draw.ellipse(head, fill=fig.hair if view == "back" else fig.skin, outline=line)
    if fig.hair_style == "spiky":
        draw.polygon(_spikes(cx, head_cy - head_r * 0.55, head_r), fill=fig.hair)
    elif fig.hair_style == "twin-tails":
        draw.chord(head, 180, 360, fill=fig.hair)
    elif fig.hair_style == "ears":
        for side in ([1] if view == "side" else [-1, 1]):
            ex = cx + side * head_r * 0.6
            draw.polygon([(ex - head_r * 0.45, head_cy - head_r * 0.6), (ex + head_r * 0.45, head_cy - head_r * 0.6),
                          (ex + side * head_r * 0.15, head_cy - head_r * 1.6)], fill=fig.hair)
    if view != "back":
        eye_r = max(2, head_r * 0.13)
        eye_y = head_cy + head_r * 0.1
        eyes = [cx + head_r * 0.5] if view == "side" else [cx - head_r * 0.38, cx + head_r * 0.38]
        eye_colour = fig.accent if fig.outfit_style == "fur" else (30, 30, 45)
        for ex in eyes:
            draw.ellipse([ex - eye_r, eye_y - eye_r * 1.4, ex + eye_r, eye_y + eye_r * 1.4], fill=eye_colour)


def reference_sheet(fig: Figure, *, design: str) -> bytes:
    """A PNG model sheet: the figure from the front, the side and the back, its name, its design
    line and swatches of its key colours."""
    width, height = SHEET_SIZE
    sheet = Image.new("RGB", SHEET_SIZE, (236, 234, 228))
    draw = ImageDraw.Draw(sheet)
    for x in range(0, width, 48):
        draw.line([(x, 0), (x, height)], fill=(222, 220, 212))
    for y in range(0, height, 48):
        draw.line([(0, y), (width, y)], fill=(222, 220, 212))
    ground = height - 110
    draw.line([(40, ground), (width - 40, ground)], fill=(150, 146, 138), width=2)
    for i, view in enumerate(("front", "side", "back")):
        cx = width * (i + 0.5) / 3
        draw_figure(draw, fig, cx, ground, 520, view)
        draw.text((cx, ground + 16), view, font=_font(22), fill=(90, 86, 80), anchor="mt")
    draw.text((40, 28), f"{fig.name}: model sheet", font=_font(40), fill=(40, 38, 50))
    draw.text((40, 78), design[:110], font=_font(18), fill=(90, 86, 80))
    for i, colour in enumerate((fig.hair, fig.outfit, fig.accent, fig.skin)):
        x = width - 60 - i * 54
        draw.rectangle([x, 30, x + 40, 70], fill=colour, outline=(60, 60, 60))
    out = io.BytesIO()
    sheet.save(out, "PNG")
    return out.getvalue()


def _gradient(size: tuple[int, int], top: Colour, bottom: Colour) -> Image.Image:
    width, height = size
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = (np.array(top)[None, None, :] * (1 - t) + np.array(bottom)[None, None, :] * t).astype(np.uint8)
    return Image.fromarray(np.repeat(rows, width, axis=1), "RGB")


def keyframe(figures: list[Figure], *, sky: tuple[Colour, Colour], street: Colour, lights: Colour,
             seed: int) -> bytes:
    """A PNG keyframe: a sky, a row of buildings with lit windows, a street, and `figures` standing
    in it, with a fine grain."""
    rng = np.random.default_rng(seed)
    width, height = KEYFRAME_SIZE
    image = _gradient(KEYFRAME_SIZE, *sky)
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    x = -20
    while x < width:
        w, h = int(rng.integers(70, 150)), int(rng.integers(110, 260))
        shade = tuple(int(c * 0.35) for c in sky[1])
        draw.rectangle([x, horizon - h, x + w, horizon], fill=shade)
        for wy in range(horizon - h + 14, horizon - 20, 26):
            for wx in range(x + 10, x + w - 16, 22):
                if rng.random() < 0.55:
                    draw.rectangle([wx, wy, wx + 10, wy + 14], fill=lights)
        x += w + int(rng.integers(4, 20))
    draw.rectangle([0, horizon, width, height], fill=street)
    for i in range(9):  # paving lines running to the horizon
        bx = width * i / 8
        draw.line([(width / 2 + (bx - width / 2) * 0.2, horizon), (bx, height)], fill=tuple(c + 18 for c in street))
    for i, fig in enumerate(figures):
        cx = width * (i + 1) / (len(figures) + 1)
        draw_figure(draw, fig, cx, height - 40, 330, "front")
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 14, (height, width, 1)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(out, "PNG")
    return out.getvalue()
