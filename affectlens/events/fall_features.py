"""Pose geometry for the fall rule: one joint layout, per-frame posture, per-window features.

Joint layout: the 11 joints of the MD4FD fall sequences (MediaPipe joints), in their order.
``FALL_FROM_COCO`` maps MoveNet's 17 COCO keypoints onto it, so the classifier trained on the
shared sequences reads the same numbers live. Every quantity is in units of the person's own
torso length (shoulder centre to hip centre, measured while upright), or degrees, or seconds:
nothing depends on image size, camera distance or frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectlens.models.pose import KEYPOINTS

FALL_JOINTS: tuple[str, ...] = (
    "nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee",
    "right_knee", "right_ankle", "left_ankle", "left_wrist", "right_wrist",
)
FALL_FROM_COCO = np.array([KEYPOINTS.index(name) for name in FALL_JOINTS])
NOSE, SHOULDERS, HIPS, KNEES, ANKLES = 0, [1, 2], [3, 4], [5, 6], [7, 8]
# Wrists are left out of the geometry: MD4FD filled missing ones with hip + noise.
BODY = [0, 1, 2, 3, 4, 5, 6, 7, 8]
# Each has a sign a physicist would predict (faster, flatter, wider, lower: more like a fall);
# total hip drop, peak tilt and tilt rate were tried and left out: they duplicate these and
# took weights of the wrong sign on the shared data (see the falls model card).
FEATURES: tuple[str, ...] = (
    "hip_descent_speed", "shoulder_descent_speed", "angle_end", "aspect_end", "aspect_rise",
    "hip_over_ankles_end", "torso_length_end",
)
MIN_KEYPOINT_SCORE = 0.1


def from_coco(keypoints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) MoveNet keypoints -> (..., 11, 3) in FALL_JOINTS order."""
    return keypoints[..., FALL_FROM_COCO, :]


@dataclass(frozen=True)
class Posture:
    """One observation of one body; NaN where the joints needed were not seen."""

    torso_angle: float  # degrees from vertical: 0 upright, 90 horizontal, 180 upside down
    torso_length: float  # pixels
    aspect: float  # width / height of the box around the seen body joints
    hip: tuple[float, float]  # hip centre, pixels (falls back to the body's centre)
    shoulder_y: float
    ankle_y: float  # NaN when neither ankle was seen
    seen: int  # body joints seen
    knee_y: float = float("nan")  # NaN when neither knee was seen


def _centre(body: np.ndarray, joints: list[int]) -> np.ndarray:
    """Mean of the seen joints of a pair; NaN if neither was seen."""
    pts = body[joints]
    ok = pts[:, 2] >= MIN_KEYPOINT_SCORE
    return pts[ok, :2].mean(axis=0) if ok.any() else np.full(2, np.nan)


def posture(body: np.ndarray) -> Posture:
    """Geometry of one (11, 3) body: x, y pixels and a score per joint."""
    seen_mask = body[BODY, 2] >= MIN_KEYPOINT_SCORE
    pts = body[BODY][seen_mask, :2]
    shoulders, hips = _centre(body, SHOULDERS), _centre(body, HIPS)
    axis = shoulders - hips
    angle = float(np.degrees(np.arctan2(abs(axis[0]), -axis[1])))
    length = float(np.hypot(*axis))
    if len(pts) >= 3:
        width, height = np.ptp(pts[:, 0]), np.ptp(pts[:, 1])
        aspect = float(width / max(height, 1.0))
        centre = pts.mean(axis=0)
    else:
        aspect, centre = float("nan"), np.full(2, np.nan)
    hip = hips if np.isfinite(hips).all() else centre
    return Posture(angle, length, aspect, (float(hip[0]), float(hip[1])),
                   float(shoulders[1]), float(_centre(body, ANKLES)[1]), int(seen_mask.sum()),
                   float(_centre(body, KNEES)[1]))


def body_region(body: np.ndarray, margin: float = 0.25) -> tuple[float, float, float, float] | None:
    """The box around a body's seen joints, grown by ``margin`` of its larger side (the head
    reaches past the nose, hands past the wrists); None with fewer than two joints seen."""
    pts = body[body[:, 2] >= MIN_KEYPOINT_SCORE, :2]
    if len(pts) < 2:
        return None
    (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
    grow = margin * max(x2 - x1, y2 - y1, 1.0)
    return (float(x1 - grow), float(y1 - grow), float(x2 + grow), float(y2 + grow))


def reference_scale(postures: list[Posture]) -> float:
    """Torso length while upright (median of frames under 30 degrees), else the longest seen."""
    upright = [p.torso_length for p in postures if p.torso_angle < 30 and p.torso_length > 0]
    if len(upright) >= 3:
        return float(np.median(upright))
    lengths = [p.torso_length for p in postures if np.isfinite(p.torso_length)]
    return float(max(lengths)) if lengths else float("nan")


def _rate(times: np.ndarray, values: np.ndarray, span_s: float) -> float:
    """Largest increase per second of ``values`` over any span of at least ``span_s``."""
    ok = np.isfinite(values)
    times, values = times[ok], values[ok]
    best = 0.0
    for i in range(len(times)):
        later = np.flatnonzero(times >= times[i] + span_s)
        if len(later):
            j = later[0]
            best = max(best, (values[j] - values[i]) / (times[j] - times[i]))
    return best


def _tail(times: np.ndarray, values: np.ndarray, span_s: float) -> float:
    ok = np.isfinite(values) & (times >= times[-1] - span_s)
    return float(np.median(values[ok])) if ok.any() else float("nan")


def window_features(times: np.ndarray, postures: list[Posture], scale: float) -> np.ndarray:
    """FEATURES of one window of observations of one person, in time order.

    Speeds are in torso lengths per second over spans of at least 0.2 s, so a slow lie-down and
    a fall that end in the same pose differ; angles in units of 90 degrees, aspect as a log;
    NaN where too little was seen.
    """
    if len(postures) < 2 or not np.isfinite(scale) or scale <= 0:
        return np.full(len(FEATURES), np.nan, np.float32)
    hip_y = np.array([p.hip[1] for p in postures]) / scale
    shoulder_y = np.array([p.shoulder_y for p in postures]) / scale
    angle = np.array([p.torso_angle for p in postures]) / 90.0
    aspect = np.log(np.clip([p.aspect for p in postures], 0.05, 20.0))
    ankle_y = np.array([p.ankle_y for p in postures]) / scale
    torso = np.array([p.torso_length for p in postures]) / scale
    start_aspect = aspect[np.isfinite(aspect)][:3]
    values = [
        _rate(times, hip_y, 0.2),
        _rate(times, shoulder_y, 0.2),
        _tail(times, angle, 0.3),
        _tail(times, aspect, 0.3),
        float(np.nanmax(aspect) - np.median(start_aspect)) if len(start_aspect) else 0.0,
        _tail(times, ankle_y - hip_y, 0.3),  # about 1.6 standing, 1 seated, 0 on the floor
        _tail(times, torso, 0.3),  # below 1 when the torso tips toward or away from the camera
    ]
    return np.array(values, np.float32)
