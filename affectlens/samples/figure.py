"""A drawn person who falls, lies on the floor and gets up: the demo's fall camera.

Why a drawn figure: a fall needs a whole body, and no public-domain full-body photo ships in
the packages affectlens installs (matplotlib's sample data has Grace Hopper's portrait, head
and shoulders). MoveNet finds people by their shape, so a figure of shaded limbs in clothes'
colours, joined where a body's joints are, is a person to it: standing, falling and lying
(tests/test_demo_media.py runs the real pose model and fall rule on the demo's video). The
head has no face: the demo's distress is the lounge's, and a small face on a falling body
read as negative to the expression model. The fall is a topple to the side about the feet,
accelerating as a body does, with the knees giving a little: the torso tilts from upright to
flat, the hips drop to ankle height and the body's box turns wide, as in a side camera's view
of a real fall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

# Joints of a person standing, facing the camera: (x, y) in body heights, y up, from the
# point between the ankles.
STANDING: dict[str, tuple[float, float]] = {
    "ankle_l": (-0.07, 0.0), "ankle_r": (0.07, 0.0),
    "knee_l": (-0.07, 0.27), "knee_r": (0.07, 0.27),
    "hip_l": (-0.085, 0.52), "hip_r": (0.085, 0.52),
    "shoulder_l": (-0.13, 0.81), "shoulder_r": (0.13, 0.81),
    "elbow_l": (-0.17, 0.64), "elbow_r": (0.17, 0.64),
    "wrist_l": (-0.18, 0.48), "wrist_r": (0.18, 0.48),
    "neck": (0.0, 0.85), "head": (0.0, 0.93),
}
# BGR
BARE, HAIR = (150, 180, 225), (70, 80, 95)  # bare arms and head; HAIR on top
SHIRT, TROUSERS, SHOES = (150, 80, 40), (60, 50, 45), (30, 30, 30)
SIZE = (640, 480)  # width, height of the scene
FLOOR_Y = 450  # the floor line the figure stands and lies on, pixels
# Subpixel drawing: OpenCV's shift argument, coordinates in 1/16 px.
_SHIFT, _ONE = 4, 16


@dataclass(frozen=True)
class FallScene:
    """The timeline of one loop, in seconds: upright until ``fall_s``, on the floor from
    ``floor_s`` to ``rise_s``, up again at ``up_s``; ``length_s`` in all."""

    fall_s: float = 12.0  # not sooner: a worker's first frames come slowly (models warming)
    falling_s: float = 0.9
    lie_s: float = 30.0
    rising_s: float = 3.0
    after_s: float = 4.0
    height_px: float = 270.0

    @property
    def floor_s(self) -> float:
        return self.fall_s + self.falling_s

    @property
    def rise_s(self) -> float:
        return self.floor_s + self.lie_s

    @property
    def up_s(self) -> float:
        return self.rise_s + self.rising_s

    @property
    def length_s(self) -> float:
        return self.up_s + self.after_s


def room(size: tuple[int, int] = SIZE) -> np.ndarray:
    """A wall and a floor, lit from above: BGR."""
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    wall = np.linspace(200, 170, FLOOR_Y - 150)[:, None] * np.array([1.0, 0.97, 0.9])
    floor = np.linspace(120, 150, height - FLOOR_Y + 150)[:, None] * np.array([0.55, 0.7, 0.85])
    image[: FLOOR_Y - 150] = wall[:, None, :].astype(np.uint8)
    image[FLOOR_Y - 150 :] = floor[:, None, :].astype(np.uint8)
    return image


def joints_at(tilt_deg: float, feet: tuple[float, float], height_px: float,
              knees: float = 0.0) -> dict[str, np.ndarray]:
    """The standing joints turned by ``tilt_deg`` about the feet (positive: falls to the
    right), the body above the knees lowered by ``knees`` body heights, then lifted so that
    nothing goes below the floor."""
    turn = np.deg2rad(tilt_deg)
    rotation = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    joints = {}
    for name, (x, y) in STANDING.items():
        lowered = y - knees if y > STANDING["knee_l"][1] else y
        dx, dy = rotation @ np.array([x, lowered]) * height_px
        joints[name] = np.array([feet[0] + dx, feet[1] - dy])
    lowest = max(point[1] for point in joints.values()) + 0.06 * height_px
    lift = max(0.0, lowest - FLOOR_Y)
    return {name: point - (0.0, lift) for name, point in joints.items()}


def draw_figure(image: np.ndarray, joints: dict[str, np.ndarray], height_px: float,
                tilt_deg: float = 0.0) -> np.ndarray:
    """Draws the figure on ``image`` (in place) and returns it: far limbs darker, then the
    torso, the near limbs, shoes and the head, its hair turned with the body."""
    j, r = joints, height_px

    def far(colour: tuple[int, int, int]) -> tuple[int, ...]:
        return tuple(round(c * 0.85) for c in colour)

    for side, shade in (("l", far), ("r", lambda c: c)):
        if side == "r":  # the torso between the far and the near limbs
            _capsule(image, j["hip_l"], j["hip_r"], 0.06 * r, TROUSERS)
            _polygon(image, [j["shoulder_l"], j["shoulder_r"], j["hip_r"], j["hip_l"]], SHIRT)
            hips = (j["hip_l"] + j["hip_r"]) / 2
            shoulders = (j["shoulder_l"] + j["shoulder_r"]) / 2
            _capsule(image, shoulders + (hips - shoulders) * 0.1,
                     hips + (shoulders - hips) * 0.1, 0.1 * r, SHIRT)
        _capsule(image, j[f"hip_{side}"], j[f"knee_{side}"], 0.045 * r, shade(TROUSERS))
        _capsule(image, j[f"knee_{side}"], j[f"ankle_{side}"], 0.038 * r, shade(TROUSERS))
        _capsule(image, j[f"shoulder_{side}"], j[f"elbow_{side}"], 0.032 * r, shade(SHIRT))
        _capsule(image, j[f"elbow_{side}"], j[f"wrist_{side}"], 0.027 * r, shade(BARE))
        shin = j[f"ankle_{side}"] - j[f"knee_{side}"]
        shin /= np.linalg.norm(shin) + 1e-9
        outward = np.array([-shin[1], shin[0]]) * (1 if side == "r" else -1)
        _capsule(image, j[f"ankle_{side}"],
                 j[f"ankle_{side}"] + outward * 0.05 * r + shin * 0.01 * r, 0.022 * r, SHOES)
    centre = tuple(int(v) for v in np.round(j["head"] * _ONE))
    radius = round(0.068 * r * _ONE)
    cv2.circle(image, centre, radius, BARE, -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(image, centre, (radius, radius), tilt_deg, 180, 360, HAIR, -1, cv2.LINE_AA,
                _SHIFT)
    return image


def fall_frames(scene: FallScene, fps: int = 10) -> Iterator[np.ndarray]:
    """One loop of the scene at ``fps``: walks in slowly, topples to the right (tilt grows
    with the square of time, as a body falling does), lies with a slight breath, gets up
    slowly and stands."""
    background = room()
    start_x = 240.0
    for i in range(round(scene.length_s * fps)):
        t = i / fps
        knees = 0.0
        if t < scene.fall_s:
            tilt, x = 2.0 * np.sin(2 * np.pi * t / 2.5), start_x + 10 * t
        elif t < scene.floor_s:
            u = (t - scene.fall_s) / scene.falling_s
            tilt, x = 88.0 * u * u, start_x + 10 * scene.fall_s + 20 * u
            knees = 0.05 * np.sin(np.pi * u)
        else:
            x = start_x + 10 * scene.fall_s + 20
            if t < scene.rise_s:
                tilt = 88.0 + 0.6 * np.sin(2 * np.pi * t / 4)
            elif t < scene.up_s:  # slowly, the knees bent on the way
                u = (t - scene.rise_s) / scene.rising_s
                tilt, knees = 88.0 * (1 - u), 0.08 * np.sin(np.pi * u)
            else:
                tilt = 0.0
        joints = joints_at(tilt, (x, FLOOR_Y - 8), scene.height_px, knees)
        yield draw_figure(background.copy(), joints, scene.height_px, tilt)


def _capsule(image: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float,
             colour: tuple[int, ...]) -> None:
    """A limb: a rounded bar, shaded darker at one edge and lighter along the other."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    along = b - a
    across = np.array([-along[1], along[0]]) / (np.linalg.norm(along) + 1e-9)
    for width, light in ((1.0, 0.65), (0.7, 0.85), (0.35, 1.05)):
        shift = across * radius * (1 - width) * 0.5
        shade = tuple(min(255, round(c * light)) for c in colour)
        half = across * radius * width
        _polygon(image, [a + half + shift, b + half + shift, b - half + shift,
                         a - half + shift], shade)
        for end in (a, b):
            centre = tuple(int(v) for v in np.round((end + shift) * _ONE))
            cv2.circle(image, centre, round(radius * width * _ONE), shade, -1, cv2.LINE_AA,
                       _SHIFT)


def _polygon(image: np.ndarray, points: list[np.ndarray], colour: tuple[int, ...]) -> None:
    corners = np.round(np.array(points, float) * _ONE).astype(np.int32)
    cv2.fillConvexPoly(image, corners, colour, cv2.LINE_AA, _SHIFT)
