"""Draw chatd's own sticker pack, "Chatd Blobs", with Pillow shapes (no source artwork).

Writes asset/stickers/chatd-blobs/*.webp and manifest.json. The output is deterministic:
no randomness without a fixed seed, no timestamps, so re-running it changes nothing.

    .venv/bin/python scripts/make_stickers.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

log = logging.getLogger("make_stickers")

ROOT = Path(__file__).resolve().parents[1]
PACK_ID = "chatd-blobs"
PACK_NAME = "Chatd Blobs"
SIZE = 256
SS = 4  # drawn at 4x and scaled down: Pillow's shapes have no anti-aliasing of their own
FRAME_MS = 90

Point = tuple[float, float]
Color = tuple[int, int, int, int]


def rgb(hex_color: str, alpha: int = 255) -> Color:
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255, alpha)


# The palette: a warm yellow blob with an orange-brown outline, like a soft emoji.
BODY = rgb("#FFCF4A")
BODY_SHADE = rgb("#F5B335")
BODY_LIGHT = rgb("#FFE79B")
OUTLINE = rgb("#C9761E")
ANGRY_BODY = rgb("#FF7F5E")
ANGRY_SHADE = rgb("#EE5B43")
ANGRY_LIGHT = rgb("#FFB29A")
ANGRY_OUTLINE = rgb("#B23A2A")
INK = rgb("#3A2418")
MOUTH = rgb("#7B2D1E")
TONGUE = rgb("#FF7A7A")
CHEEK = rgb("#FF9C86")
WHITE = rgb("#FFFFFF")
HEART = rgb("#FF4D6D")
HEART_DARK = rgb("#C4254A")
TEAR = rgb("#5CC8FF")
TEAR_DARK = rgb("#2F8FD0")
ZZZ = rgb("#7B6CF6")
GREEN = rgb("#3CC46B")
GREEN_DARK = rgb("#23924C")


# ---- geometry: every shape is a point list, so it can be moved, scaled and rotated ----


def ellipse_pts(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, n: int = 96) -> list[Point]:
    cos_r, sin_r = math.cos(rot), math.sin(rot)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * cos_r - y * sin_r, cy + x * sin_r + y * cos_r))
    return pts


def arc_pts(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 40) -> list[Point]:
    """Points on an ellipse from start to end degrees (0 = right, 90 = down, as in Pillow)."""
    out = []
    for i in range(n + 1):
        t = math.radians(start + (end - start) * i / n)
        out.append((cx + rx * math.cos(t), cy + ry * math.sin(t)))
    return out


def blob_pts(cx: float, cy: float, rx: float, ry: float) -> list[Point]:
    """A blob: an ellipse with a heavier, wider bottom."""
    pts = []
    for i in range(160):
        t = 2 * math.pi * i / 160
        s = math.sin(t)
        widen = 1.0 + 0.07 * max(s, 0.0)
        height = 1.06 if s > 0 else 1.0
        pts.append((cx + rx * widen * math.cos(t), cy + ry * height * s))
    return pts


def heart_pts(cx: float, cy: float, size: float, rot: float = 0.0) -> list[Point]:
    """The classic heart curve, about 2*size wide, centred on (cx, cy)."""
    pts = []
    cos_r, sin_r = math.cos(rot), math.sin(rot)
    for i in range(120):
        t = 2 * math.pi * i / 120
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        x, y = x * size / 16, (y + 2) * size / 16
        pts.append((cx + x * cos_r - y * sin_r, cy + x * sin_r + y * cos_r))
    return pts


def drop_pts(cx: float, cy: float, r: float) -> list[Point]:
    """A tear drop: round bottom centred on (cx, cy), point upwards."""
    pts = arc_pts(cx, cy, r, r, -30, 210, 40)
    pts.append((cx, cy - 2.3 * r))
    return pts


def rounded_rect_pts(x0: float, y0: float, x1: float, y1: float, r: float) -> list[Point]:
    pts: list[Point] = []
    for cx, cy, start in (
        (x1 - r, y0 + r, 270),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    ):
        pts += arc_pts(cx, cy, r, r, start, start + 90, 10)
    return pts


def transform(pts: Sequence[Point], pivot: Point, angle: float = 0.0, scale: float = 1.0) -> list[Point]:
    """Rotate (radians) and scale points about pivot."""
    px, py = pivot
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return [(px + (x - px) * c - (y - py) * s, py + (x - px) * s + (y - py) * c) for x, y in pts]


def grow(pts: Sequence[Point], by: float) -> list[Point]:
    """Push every point outwards from the centroid by `by` (an outline around a convex-ish shape)."""
    cx = sum(x for x, _ in pts) / len(pts)
    cy = sum(y for _, y in pts) / len(pts)
    out = []
    for x, y in pts:
        d = math.hypot(x - cx, y - cy) or 1.0
        out.append((x + (x - cx) / d * by, y + (y - cy) / d * by))
    return out


# ---- drawing ----


class Canvas:
    """A 256-unit square drawn at SS times the size, so edges come out smooth when shrunk."""

    def __init__(self) -> None:
        self.img = Image.new("RGBA", (SIZE * SS, SIZE * SS), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.img)

    @staticmethod
    def _scaled(pts: Sequence[Point]) -> list[Point]:
        return [(x * SS, y * SS) for x, y in pts]

    def _mask(self, pts: Sequence[Point]) -> Image.Image:
        mask = Image.new("L", self.img.size, 0)
        ImageDraw.Draw(mask).polygon(self._scaled(pts), fill=255)
        return mask

    def shape(
        self, pts: Sequence[Point], fill: Color, outline: Color | None = None, width: float = 0
    ) -> None:
        if outline is not None:
            self.draw.polygon(self._scaled(grow(pts, width)), fill=outline)
        self.draw.polygon(self._scaled(pts), fill=fill)

    def clipped(self, pts: Sequence[Point], clip: Sequence[Point], fill: Color, soft: float = 0) -> None:
        """Fill pts, but only where it lies inside clip (shading, a tongue in a mouth).

        soft blurs the shape's edge (not the clip's) by that many units.
        """
        shape = self._mask(pts)
        if soft:
            shape = shape.filter(ImageFilter.GaussianBlur(soft * SS))
        mask = ImageChops.multiply(shape, self._mask(clip))
        if fill[3] < 255:
            mask = mask.point(lambda v: v * fill[3] // 255)
        self.img.paste((*fill[:3], 255), (0, 0), mask)

    def line(self, pts: Sequence[Point], fill: Color, width: float) -> None:
        """A thick polyline with round ends."""
        self.draw.line(self._scaled(pts), fill=fill, width=round(width * SS), joint="curve")
        r = width / 2
        for x, y in (pts[0], pts[-1]):
            self.draw.ellipse([(x - r) * SS, (y - r) * SS, (x + r) * SS, (y + r) * SS], fill=fill)

    def dot(self, cx: float, cy: float, r: float, fill: Color) -> None:
        self.draw.ellipse([(cx - r) * SS, (cy - r) * SS, (cx + r) * SS, (cy + r) * SS], fill=fill)

    def overlay(self, other: Image.Image) -> None:
        self.img.alpha_composite(other)
        self.draw = ImageDraw.Draw(self.img)

    def shadow(self, cx: float, cy: float, rx: float, ry: float, alpha: int = 60) -> None:
        """A soft ground shadow, blurred on its own layer."""
        layer = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).ellipse(
            [(cx - rx) * SS, (cy - ry) * SS, (cx + rx) * SS, (cy + ry) * SS], fill=(90, 60, 30, alpha)
        )
        self.overlay(layer.filter(ImageFilter.GaussianBlur(4 * SS)))

    def result(self) -> Image.Image:
        return self.img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Skin:
    body: Color = BODY
    shade: Color = BODY_SHADE
    light: Color = BODY_LIGHT
    outline: Color = OUTLINE


YELLOW = Skin()
RED = Skin(ANGRY_BODY, ANGRY_SHADE, ANGRY_LIGHT, ANGRY_OUTLINE)

CX, CY, RX, RY = 128.0, 150.0, 84.0, 74.0  # the body's centre and radii
EYE_DX, EYE_Y, MOUTH_Y = 30.0, 140.0, 172.0


def body(c: Canvas, skin: Skin = YELLOW) -> list[Point]:
    """Shadow, outlined body, a darker belly and a glossy highlight. Returns the body outline."""
    c.shadow(CX, CY + RY * 1.06 + 6, RX * 0.85, 9)
    pts = blob_pts(CX, CY, RX, RY)
    c.shape(pts, skin.body, skin.outline, 5)
    c.clipped(ellipse_pts(CX + 12, CY + 78, RX * 1.3, RY * 0.8), pts, skin.shade, soft=5)
    c.clipped(ellipse_pts(CX - 38, CY - 42, 24, 13, rot=-0.5), pts, skin.light)
    c.dot(CX - 62, CY - 22, 5, skin.light)
    return pts


def open_eyes(c: Canvas, look: Point = (0.0, 0.0)) -> None:
    for side in (-1, 1):
        x, y = CX + side * EYE_DX + look[0], EYE_Y + look[1]
        c.shape(ellipse_pts(x, y, 9, 13), INK)
        c.dot(x - 3, y - 5, 3.5, WHITE)


def happy_eyes(c: Canvas, width: float = 6.0) -> None:
    """^ ^ : eyes squeezed shut with joy."""
    for side in (-1, 1):
        x = CX + side * EYE_DX
        c.line(arc_pts(x, EYE_Y + 6, 12, 11, 200, 340, 24), INK, width)


def closed_eyes(c: Canvas) -> None:
    """Sleeping, relaxed lids: gentle downward curves."""
    for side in (-1, 1):
        x = CX + side * EYE_DX
        c.line(arc_pts(x, EYE_Y - 2, 12, 8, 20, 160, 24), INK, 5)


def cheeks(c: Canvas, color: Color = CHEEK) -> None:
    for side in (-1, 1):
        c.shape(ellipse_pts(CX + side * 54, MOUTH_Y - 10, 13, 8), color)


def smile(c: Canvas, width: float = 22.0) -> None:
    c.line(arc_pts(CX, MOUTH_Y - 12, width, 12, 25, 155, 30), INK, 5)


def open_mouth(c: Canvas, w: float = 28.0, h: float = 26.0) -> None:
    """A D-shaped laughing mouth with a tongue."""
    top = MOUTH_Y - 12
    pts = arc_pts(CX, top, w, h, 0, 180, 40)
    c.shape(pts, MOUTH, INK, 3)
    c.clipped(ellipse_pts(CX, top + h, w * 0.6, h * 0.45), pts, TONGUE)


def hand(
    c: Canvas,
    x: float,
    y: float,
    skin: Skin = YELLOW,
    angle: float = 0.0,
    r: float = 20.0,
    pivot: Point | None = None,
) -> None:
    """A round mitten hand with a thumb bump, rotated about pivot (default: its centre)."""
    palm = ellipse_pts(x, y, r, r * 0.9)
    thumb = ellipse_pts(x - r * 0.85, y + r * 0.1, r * 0.42, r * 0.32, rot=-0.6)
    for pts in (thumb, palm):
        pts[:] = transform(pts, pivot or (x, y), angle)
    gloss = transform(
        ellipse_pts(x - r * 0.3, y - r * 0.35, r * 0.35, r * 0.2, rot=-0.5), pivot or (x, y), angle
    )
    c.shape(thumb, skin.body, skin.outline, 4)
    c.shape(palm, skin.body, skin.outline, 4)
    c.shape(thumb, skin.body)  # hide the palm outline over the thumb
    c.clipped(gloss, palm, skin.light)


def heart(c: Canvas, x: float, y: float, size: float, rot: float = 0.0) -> None:
    pts = heart_pts(x, y, size, rot)
    c.shape(pts, HEART, HEART_DARK, max(2.0, size / 8))
    c.clipped(ellipse_pts(x - size * 0.45, y - size * 0.35, size * 0.22, size * 0.13, rot=-0.7), pts, WHITE)


def zed(c: Canvas, x: float, y: float, size: float, color: Color) -> None:
    """The letter Z as a thick stroke (no font files needed)."""
    h = size / 2
    c.line([(x - h, y - h), (x + h, y - h), (x - h, y + h), (x + h, y + h)], color, max(2.5, size / 5))


# ---- the stickers ----

Frames = list[Image.Image]


def wave() -> Frames:
    frames = []
    for i in range(8):
        phase = math.sin(2 * math.pi * i / 8)
        c = Canvas()
        body(c)
        # Motion lines on the side the hand swings towards.
        for k, r in enumerate((40, 52)):
            alpha = 230 if phase * (k * 2 - 1) >= 0 else 110
            c.line(arc_pts(212, 78, r, r, -70, -25, 16), rgb("#F0A640", alpha), 4)
        # swings from the wrist, which sits on the body's edge
        hand(c, 210, 100, angle=0.45 * phase - 0.1, r=22, pivot=(196, 124))
        open_eyes(c)
        cheeks(c)
        smile(c)
        frames.append(c.result())
    return frames


def laugh() -> Frames:
    c = Canvas()
    body(c)
    happy_eyes(c, width=7)
    cheeks(c)
    open_mouth(c, w=32, h=30)
    # tears of joy flying off the eye corners
    for side in (-1, 1):
        c.shape(
            transform(drop_pts(CX + side * 66, EYE_Y - 6, 7), (CX + side * 66, EYE_Y - 6), side * 1.9), TEAR
        )
    return [c.result()]


def love() -> Frames:
    frames = []
    for i in range(8):
        # a heartbeat: two quick pulses, then rest
        beat = [0.0, 0.55, 1.0, 0.45, 0.8, 0.3, 0.0, 0.0][i]
        c = Canvas()
        body(c)
        happy_eyes(c)
        cheeks(c)
        smile(c, width=14)
        heart(c, CX, 196, 38 * (1 + 0.14 * beat))
        hand(c, CX - 44, 200, angle=0.3, r=16)
        hand(c, CX + 44, 200, angle=math.pi - 0.3, r=16)
        # Small hearts stay put: the encoder stores only the changed rectangle per frame,
        # and moving them too would make that rectangle (and the file) nearly whole.
        heart(c, 42, 70, 11, rot=-0.3)
        heart(c, 216, 58, 14, rot=0.25)
        frames.append(c.result())
    return frames


def thumbs_up() -> Frames:
    c = Canvas()
    body(c)
    open_eyes(c)
    cheeks(c)
    smile(c)
    # A fist with a raised thumb, on the blob's right.
    x, y = 196.0, 168.0
    fist = rounded_rect_pts(x - 26, y - 16, x + 26, y + 28, 13)
    thumb = rounded_rect_pts(x - 24, y - 56, x - 4, y - 4, 10)
    c.shape(thumb, BODY, OUTLINE, 4)
    c.shape(fist, BODY, OUTLINE, 4)
    c.shape(rounded_rect_pts(x - 21, y - 24, x - 7, y - 12, 6), BODY)
    for k in range(3):
        fy = y - 2 + k * 10
        c.line([(x + 4, fy), (x + 22, fy)], OUTLINE, 3)
    c.clipped(ellipse_pts(x - 16, y - 44, 4, 7), thumb, BODY_LIGHT)
    # a sparkle
    for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        c.line([(232, 90), (232 + dx * 10, 90 + dy * 10)], rgb("#FFB300"), 3.5)
    return [c.result()]


def cry() -> Frames:
    c = Canvas()
    body(c)
    for side in (-1, 1):
        x = CX + side * EYE_DX
        c.line(arc_pts(x, EYE_Y + 8, 11, 10, 200, 340, 24), INK, 5.5)
        # streams of tears down the cheeks
        stream = [(x + side * 2, EYE_Y + 8), (x + side * 8, EYE_Y + 40), (x + side * 10, EYE_Y + 80)]
        c.line(stream, TEAR, 11)
        c.line(stream[:2], rgb("#A8E2FF"), 4)
        c.shape(drop_pts(x + side * 12, EYE_Y + 88, 9), TEAR, TEAR_DARK, 2)
    # a trembling mouth
    wobble = [(CX - 20 + t, MOUTH_Y + 8 - 4 * math.sin(t / 40 * 2 * math.pi * 1.5)) for t in range(0, 41, 2)]
    c.line(wobble, INK, 5)
    # furrowed sad brows
    for side in (-1, 1):
        x = CX + side * EYE_DX
        c.line([(x - side * 12, EYE_Y - 22), (x + side * 8, EYE_Y - 14)], INK, 4.5)
    return [c.result()]


def party() -> Frames:
    c = Canvas()
    body(c)
    happy_eyes(c)
    cheeks(c)
    open_mouth(c, w=24, h=22)
    # Confetti: a fixed seed, so every run draws the same pieces.
    rng = random.Random(20240611)
    colors = [HEART, rgb("#36C5F0"), GREEN, rgb("#A66CFF"), rgb("#FFB300")]
    for k in range(22):
        px, py = rng.uniform(12, 244), rng.uniform(10, 120)
        if 70 < px < 186 and py > 60:
            continue  # keep the face and hat clear
        piece = ellipse_pts(px, py, 6, 2.6, rot=rng.uniform(0, math.pi), n=4)
        c.shape(piece, colors[k % len(colors)])
    # a cone hat, tilted
    pivot = (CX + 20, 82.0)
    hat = transform([(CX - 8, 84), (CX + 48, 84), (CX + 20, 8)], pivot, 0.35)
    c.shape(hat, rgb("#36C5F0"), rgb("#1C7FA8"), 4)
    for k in range(3):
        y0 = 20 + k * 22
        stripe = transform(
            [(CX - 30, y0), (CX + 70, y0 + 8), (CX + 70, y0 + 17), (CX - 30, y0 + 9)], pivot, 0.35
        )
        c.clipped(stripe, hat, rgb("#FF4D6D"))
    tip = transform([(CX + 20, 8)], pivot, 0.35)[0]
    c.shape(ellipse_pts(tip[0], tip[1], 9, 9), rgb("#FFB300"), rgb("#C9761E"), 3)
    return [c.result()]


def sleepy() -> Frames:
    frames = []
    for i in range(8):
        breath = math.sin(2 * math.pi * i / 8)
        c = Canvas()
        body(c)
        closed_eyes(c)
        cheeks(c)
        c.shape(ellipse_pts(CX + 4, MOUTH_Y - 2, 7, 8 + breath), MOUTH, INK, 3)
        # Three Zs rising and fading on a loop, each a third of a cycle apart.
        for k in range(3):
            t = ((i / 8) + k / 3) % 1.0
            alpha = round(255 * min(1.0, 4 * t, 4 * (1 - t)))
            layer = Canvas()  # its own layer: a faint Z must blend, not punch a hole
            zed(layer, 178 + 50 * t, 88 - 82 * t, 12 + 12 * t, (*ZZZ[:3], alpha))
            c.overlay(layer.img)
        frames.append(c.result())
    return frames


def thinking() -> Frames:
    c = Canvas()
    body(c)
    open_eyes(c, look=(5, -6))
    # one eyebrow raised
    c.line(arc_pts(CX + EYE_DX + 4, EYE_Y - 20, 14, 8, 200, 330, 20), INK, 4.5)
    c.line([(CX - EYE_DX - 12, EYE_Y - 20), (CX - EYE_DX + 10, EYE_Y - 22)], INK, 4.5)
    c.line([(CX - 8, MOUTH_Y + 2), (CX + 18, MOUTH_Y - 4)], INK, 5)
    hand(c, CX + 40, MOUTH_Y + 30, angle=-0.4, r=17)
    # thought bubbles and a question mark
    for (x, y), r in (((196, 92), 5.0), ((208, 70), 8.0)):
        c.shape(ellipse_pts(x, y, r, r), WHITE, rgb("#9AA4B2"), 2.5)
    c.shape(ellipse_pts(214, 34, 30, 26), WHITE, rgb("#9AA4B2"), 3)
    c.line([*arc_pts(214, 27, 8, 8, 190, 400, 30), (214, 40)], rgb("#5A6474"), 5)
    c.dot(214, 50, 3.5, rgb("#5A6474"))
    return [c.result()]


def ok() -> Frames:
    c = Canvas()
    body(c)
    # a wink
    c.shape(ellipse_pts(CX - EYE_DX, EYE_Y, 9, 13), INK)
    c.dot(CX - EYE_DX - 3, EYE_Y - 5, 3.5, WHITE)
    c.line(arc_pts(CX + EYE_DX, EYE_Y + 4, 12, 9, 200, 340, 24), INK, 5.5)
    cheeks(c)
    smile(c, width=20)
    # a green check badge
    bx, by = 202.0, 70.0
    c.shape(ellipse_pts(bx, by, 30, 30), GREEN, GREEN_DARK, 4)
    c.clipped(ellipse_pts(bx - 10, by - 14, 12, 7, rot=-0.5), ellipse_pts(bx, by, 30, 30), rgb("#7BE39F"))
    c.line([(bx - 14, by + 1), (bx - 4, by + 12), (bx + 15, by - 11)], WHITE, 7)
    return [c.result()]


def angry() -> Frames:
    c = Canvas()
    body(c, RED)
    for side in (-1, 1):
        x = CX + side * EYE_DX
        c.shape(ellipse_pts(x, EYE_Y + 4, 8, 10), INK)
        c.dot(x - 2.5, EYE_Y, 3, WHITE)
        # brows slanting down towards the nose
        c.line([(x + side * 18, EYE_Y - 24), (x - side * 10, EYE_Y - 10)], INK, 6.5)
    c.line(arc_pts(CX, MOUTH_Y + 14, 20, 12, 205, 335, 24), INK, 5.5)
    # steam puffs from the top of the head
    for side in (-1, 1):
        for k, (dx, dy, r) in enumerate(((0, 0, 11), (side * 12, -12, 13), (side * 26, -4, 10))):
            c.shape(ellipse_pts(CX + side * 74 + dx, 70 + dy, r, r * 0.9), WHITE, rgb("#C8CDD4"), 3 - k * 0.5)
    return [c.result()]


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    draw: Callable[[], Frames]


STICKERS = (
    Spec("wave", "Wave", wave),
    Spec("laugh", "Laugh", laugh),
    Spec("heart", "Love", love),
    Spec("thumbs-up", "Thumbs up", thumbs_up),
    Spec("cry", "Cry", cry),
    Spec("party", "Party", party),
    Spec("sleepy", "Sleepy", sleepy),
    Spec("thinking", "Thinking", thinking),
    Spec("ok", "OK", ok),
    Spec("angry", "Angry", angry),
)


def save(frames: Frames, path: Path) -> None:
    # Lossless: flat colours and sharp edges compress well and stay crisp; method 6 is the
    # slowest, smallest setting and is deterministic.
    options = {"lossless": True, "method": 6}
    if len(frames) == 1:
        frames[0].save(path, "WEBP", **options)
    else:
        frames[0].save(
            path, "WEBP", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0, **options
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "asset" / "stickers" / PACK_ID)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in STICKERS:
        file = f"{spec.name}.webp"
        frames = spec.draw()
        save(frames, out / file)
        entries.append({"name": spec.name, "file": file, "title": spec.title})
        log.info("%s: %d frame(s), %d bytes", file, len(frames), (out / file).stat().st_size)
    manifest = {"name": PACK_NAME, "stickers": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    log.info("wrote %d stickers to %s", len(entries), out)


if __name__ == "__main__":
    main()
