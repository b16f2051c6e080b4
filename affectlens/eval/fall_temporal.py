"""A small temporal fall model over joint sequences, run with ONNX Runtime: a candidate beside
the logistic classifier (issue 13, item 5), measured here, not shipped as the rule's default.

Why a window of joints and not seven hand-made features: the features (descent speeds, end
posture) lose how the body moved on the way down, which is what tells a fall to the knees or a
slumped end from sitting down. Why still small (a few thousand weights): a few hundred staged
windows cannot train more without learning one lab's camera.

Input (one window, ``window_inputs``): the 9 body joints (wrists left out: MD4FD filled
missing ones with the hip plus noise) over the last ``WINDOW_S`` seconds, resampled to the
product's analysed frame rate (``FPS``, the last frame at or before each tick: what a camera
analysed at that rate delivers); positions relative to the window's median hip centre in
units of the person's upright torso length (``fall_features.reference_scale`` over the
window's first third, as ``eval.falls.sequence_features``), their velocities in torso lengths
per second, and a seen flag per joint (unseen joints are zero). A recording is scored by
sliding the window over it (``STRIDE_S``); the model alone calls a fall when any window
reaches its threshold. Inside the rule (``TemporalRule``) the model's p(fall) replaces the
logistic one at the moment the rule judges a floor posture; every gate is the rule's own.

Trained by training/train_fall_temporal.py; benchmarks/falls_temporal.py measures it
against the rule and logistic classifier.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import ModelError
from affectlens.eval.falls import PoseSequence
from affectlens.events.event import Event
from affectlens.events.fall_features import BODY, HIPS, MIN_KEYPOINT_SCORE, SHOULDERS
from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import FallRule, _Person
from affectlens.models.runtime import WEIGHTS_DIR, open_session

MODEL_FILE = WEIGHTS_DIR / "affectlens_falls_temporal.onnx"
FPS = 10.0  # the analysed frame rate of a camera watching for falls (docs/falls.md)
WINDOW_S = 3.0  # as FallSettings.window_s: the pose history the rule's classifier reads
STEPS = round(WINDOW_S * FPS)
STRIDE_S = 0.5
CHANNELS = 5 * len(BODY)  # x, y, vx, vy per joint, then a seen flag per joint
_LIMIT = 5.0  # torso lengths (positions) and torso lengths per second / 10 (velocities)


def resample(times: np.ndarray, bodies: np.ndarray, end_s: float, steps: int = STEPS,
             fps: float = FPS) -> np.ndarray:
    """(steps, J, 3): the last frame at or before each tick ending at ``end_s``; ticks before
    the first frame repeat it (a window that starts with the footage)."""
    ticks = end_s - (steps - 1 - np.arange(steps)) / fps
    index = np.clip(np.searchsorted(times, ticks + 1e-6, side="right") - 1, 0, len(times) - 1)
    return bodies[index]


def _centres(bodies: np.ndarray, joints: list[int]) -> np.ndarray:
    """(T, 2) mean of the seen joints of a pair per frame; NaN where neither was seen."""
    pts = bodies[:, joints]
    seen = pts[..., 2] >= MIN_KEYPOINT_SCORE
    total = (pts[..., :2] * seen[..., None]).sum(axis=1)
    count = seen.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def window_scale(bodies: np.ndarray) -> float:
    """Upright torso length: ``fall_features.reference_scale`` over the window's first third
    (as ``sequence_features`` takes it), vectorised: the median length of frames tilted under
    30 degrees when three or more, else the longest torso seen in the window."""
    axis = _centres(bodies, SHOULDERS) - _centres(bodies, HIPS)
    length = np.hypot(axis[:, 0], axis[:, 1])
    angle = np.degrees(np.arctan2(np.abs(axis[:, 0]), -axis[:, 1]))
    first = slice(0, max(3, len(bodies) // 3))
    upright = length[first][(angle[first] < 30) & (length[first] > 0)]
    if len(upright) >= 3:
        return float(np.median(upright))
    finite = length[np.isfinite(length)]
    return float(finite.max()) if len(finite) else float("nan")


def window_inputs(frames: np.ndarray, fps: float = FPS) -> np.ndarray:
    """(CHANNELS, T) float32 model input of one resampled window (T, 11, 3) of pixels."""
    body = frames[:, BODY]
    seen = body[..., 2] >= MIN_KEYPOINT_SCORE
    hips = _centres(frames, HIPS)
    if not np.isfinite(hips).any():  # no hip seen in the whole window: the body's centre
        with np.errstate(invalid="ignore"):
            hips = np.where(seen[..., None], body[..., :2], np.nan)
            hips = np.nanmean(hips, axis=1) if seen.any() else np.zeros((len(body), 2))
    centre = np.nanmedian(hips, axis=0) if np.isfinite(hips).any() else np.zeros(2)
    scale = window_scale(frames)
    if not np.isfinite(scale) or scale <= 1e-3:
        seen_pts = body[seen][:, :2]
        scale = float(np.ptp(seen_pts[:, 1]) / 3) if len(seen_pts) > 1 else 1.0
        scale = max(scale, 1.0)
    pos = np.clip((body[..., :2] - centre) / scale, -_LIMIT, _LIMIT) * seen[..., None]
    vel = np.zeros_like(pos)
    both = seen[1:] & seen[:-1]
    vel[1:] = np.clip(np.diff(pos, axis=0) * fps / 10.0, -_LIMIT, _LIMIT) * both[..., None]
    out = np.concatenate([pos.reshape(len(body), -1), vel.reshape(len(body), -1),
                          seen.astype(np.float64)], axis=1)
    return out.T.astype(np.float32)


def window_ends(times: np.ndarray, stride_s: float = STRIDE_S) -> np.ndarray:
    """Where the sliding windows over a recording end: every ``stride_s`` from one window's
    length in (or the first frame), and at its last frame."""
    first = min(float(times[0]) + WINDOW_S - 1 / FPS, float(times[-1]))
    ends = np.arange(first, float(times[-1]), stride_s)
    return np.append(ends, float(times[-1]))


def sequence_windows(seq: PoseSequence, stride_s: float = STRIDE_S) -> np.ndarray:
    """(N, CHANNELS, T): every sliding window of one sequence, as the model reads them."""
    return np.stack([window_inputs(resample(seq.times, seq.bodies, end))
                     for end in window_ends(seq.times, stride_s)])


@dataclass
class TemporalFallModel:
    """The exported model in an ONNX Runtime session (one thread: it runs beside pose)."""

    path: Path
    # The model alone calls a fall at p >= threshold: 0.5, the threshold chosen on a
    # validation split of its training data having been folded into its output's bias.
    threshold: float
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._session = open_session(self.path, threads=1)
        self._input = self._session.get_inputs()[0].name

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> TemporalFallModel:
        """The model and its sidecar (``.json``: threshold, frame rate, training record)."""
        side = path.with_suffix(".json")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the temporal fall model's {side}: {exc}") from exc
        if meta.get("fps") != FPS or meta.get("steps") != STEPS \
                or meta.get("channels") != CHANNELS:
            raise ModelError(f"{path} was trained on other inputs: fps {meta.get('fps')}, "
                             f"steps {meta.get('steps')}, channels {meta.get('channels')}")
        return cls(path, float(meta["threshold"]), meta)

    def probability(self, windows: np.ndarray) -> np.ndarray:
        """(N, CHANNELS, T) -> (N,) p(fall)."""
        if windows.ndim != 3 or windows.shape[1:] != (CHANNELS, STEPS):
            raise ModelError(f"expected windows of shape (N, {CHANNELS}, {STEPS}), "
                             f"got {windows.shape}")
        (p,) = self._session.run(None, {self._input: windows.astype(np.float32)})
        return np.asarray(p, np.float64).reshape(-1)

    def sequence_probability(self, seq: PoseSequence) -> float:
        """Highest p(fall) of the sliding windows over one sequence."""
        return float(self.probability(sequence_windows(seq)).max())

    # As a fall_lodo.Detector: scored exactly as the rule and logistic classifier are.

    def rule(self, settings: FallSettings | None) -> FallRule:
        return TemporalRule(settings, self)

    def window_probability(self, seq: PoseSequence) -> float:
        return self.sequence_probability(seq)

    def recording_probability(self, seq: PoseSequence) -> float:
        return self.sequence_probability(seq)


class _Judge:
    """What FallRule asks for p(fall): the temporal model on the window of the person the
    rule is judging (TemporalRule sets which), not on the seven features it passes."""

    def __init__(self, model: TemporalFallModel, rule: TemporalRule) -> None:
        self.model, self.rule, self.threshold = model, rule, model.threshold

    def probability(self, features: np.ndarray) -> np.ndarray:
        return np.array([self.rule.judged_probability()])


class TemporalRule(FallRule):
    """FallRule with the temporal model's p(fall) in place of the logistic classifier's when
    a floor posture is judged; every gate (states, timings, zones, min_probability) is the
    rule's own, untouched. Keeps the last seconds of joints of each person the rule
    remembers, for the model."""

    def __init__(self, settings: FallSettings | None, model: TemporalFallModel) -> None:
        super().__init__(settings, _Judge(model, self))  # type: ignore[arg-type]
        self.model = model
        self._frames: dict[int, deque[tuple[float, np.ndarray]]] = {}
        self._judging: tuple[int, float] | None = None

    def update(self, time_s: float, track_ids: np.ndarray, bodies: np.ndarray,
               weak: np.ndarray | None = None) -> list[Event]:
        keep = max(self.settings.window_s, WINDOW_S) + 1.0
        for track_id, body in zip(np.asarray(track_ids).tolist(), bodies):
            if track_id < 1:
                continue
            frames = self._frames.setdefault(track_id, deque())
            frames.append((time_s, np.array(body, np.float64)))
            while frames and frames[0][0] < time_s - keep:
                frames.popleft()
        events = super().update(time_s, track_ids, bodies, weak)
        for track_id in set(self._frames) - set(self._people):  # forgotten by the rule
            del self._frames[track_id]
        return events

    def _decide(self, person: _Person, t: float) -> list[Event]:
        """The rule's own decision; only which person's window the model reads is noted."""
        self._judging = (person.track_id, t)
        return super()._decide(person, t)

    def judged_probability(self) -> float:
        """The model on the judged person's frames up to their last observed one."""
        if self._judging is None:
            return float("nan")
        track_id, _ = self._judging
        frames = self._frames.get(track_id)
        if not frames:
            return float("nan")
        times = np.array([t for t, _ in frames])
        bodies = np.stack([b for _, b in frames])
        window = window_inputs(resample(times, bodies, float(times[-1])))
        return float(self.model.probability(window[None])[0])
