"""Per-track temporal smoothing, so that a face's dominant expression does not flicker.

Probabilities are averaged with an exponential moving average whose weight depends on the time
between frames (so the same ``tau_s`` works at any analysis rate). The dominant label then
changes only with hysteresis: another class must lead the current one by ``switch_margin``, and
a face is "uncertain" while no class reaches ``min_confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectlens.types import EXPRESSIONS, UNCERTAIN


@dataclass
class _TrackState:
    probs: np.ndarray
    time: float
    label: str


@dataclass
class ExpressionSmoother:
    tau_s: float = 1.0
    switch_margin: float = 0.1
    min_confidence: float = 0.4
    # A track unseen this long is forgotten: its tracker gives a returning face a new number
    # by then, and a live camera would otherwise remember every face it ever saw.
    forget_after_s: float | None = None
    _tracks: dict[int, _TrackState] = field(default_factory=dict)
    _swept: float = float("-inf")

    def update(self, track_id: int, probs: np.ndarray, time: float) -> tuple[np.ndarray, str]:
        """The track's smoothed probabilities and its dominant label after this observation."""
        self._forget(time)
        state = self._tracks.get(track_id)
        if state is None:
            label = self._first_label(probs)
            self._tracks[track_id] = _TrackState(probs.copy(), time, label)
            return probs.copy(), label
        alpha = 1.0 - np.exp(-max(time - state.time, 0.0) / self.tau_s)
        state.probs = (1 - alpha) * state.probs + alpha * probs
        state.time = time
        state.label = self._next_label(state.label, state.probs)
        return state.probs.copy(), state.label

    def _forget(self, time: float) -> None:
        """Drop tracks unseen for forget_after_s (looked at once a second of stream time)."""
        if self.forget_after_s is None or time - self._swept < 1.0:
            return
        self._swept = time
        self._tracks = {k: v for k, v in self._tracks.items()
                        if time - v.time <= self.forget_after_s}

    def label_once(self, probs: np.ndarray) -> str:
        """The label of a face seen only once (an image, or a face not yet tracked)."""
        return self._first_label(probs)

    def _first_label(self, probs: np.ndarray) -> str:
        best = int(np.argmax(probs))
        return EXPRESSIONS[best] if probs[best] >= self.min_confidence else UNCERTAIN

    def _next_label(self, current: str, probs: np.ndarray) -> str:
        best = int(np.argmax(probs))
        top = float(probs[best])
        half = self.switch_margin / 2
        if current == UNCERTAIN:
            return EXPRESSIONS[best] if top >= self.min_confidence + half else UNCERTAIN
        held = float(probs[EXPRESSIONS.index(current)])
        if held < self.min_confidence - half and top < self.min_confidence:
            return UNCERTAIN
        if top - held >= self.switch_margin:
            return EXPRESSIONS[best]
        return current
