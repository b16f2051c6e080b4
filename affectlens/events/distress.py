"""Sustained distress: a tracked face whose smoothed negative-expression probability stays
above a threshold for a while.

One bad frame is not distress, and neither is a grimace: the rule fires only after the
probability has stayed high for ``hold_s`` seconds without a gap in observation, ends when it
falls below ``threshold - release_margin`` (hysteresis, so it does not flap) or when the face
has not been seen for ``max_gap_s`` (at its last sighting), and stays quiet for that track for
``cooldown_s`` after an event ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from affectlens.events.event import Event
from affectlens.types import EXPRESSIONS
from affectlens.vocabulary import EventKind

NEGATIVE = ("angry", "disgust", "fear", "sad")
_NEGATIVE_INDEX = [EXPRESSIONS.index(name) for name in NEGATIVE]


class DistressSettings(BaseModel):
    """Per camera; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.6, gt=0, lt=1, description="Negative probability that counts.")
    hold_s: float = Field(10.0, gt=0, le=3600, description="How long it must last before an "
                          "event.")
    release_margin: float = Field(0.1, ge=0, lt=1, description="Hysteresis below threshold.")
    cooldown_s: float = Field(300.0, ge=0, le=86_400, description="Quiet time per track after "
                              "an event.")
    max_gap_s: float = Field(2.0, gt=0, le=600, description="A longer unseen gap restarts the "
                             "count.")


def negative_probability(smoothed: np.ndarray) -> float:
    """The share of the smoothed expression probability on angry, disgust, fear and sad."""
    return float(np.sum(np.asarray(smoothed)[_NEGATIVE_INDEX]))


@dataclass
class _Track:
    last_s: float
    above_since: float | None = None
    values: list[float] = field(default_factory=list)
    event: Event | None = None
    quiet_until: float = float("-inf")


class DistressRule:
    def __init__(self, settings: DistressSettings | None = None) -> None:
        self.settings = settings or DistressSettings()
        self._tracks: dict[int, _Track] = {}

    def update(self, track_id: int, time_s: float, smoothed: np.ndarray) -> list[Event]:
        """Feed one observation; returns events that started or ended with it."""
        s = self.settings
        value = negative_probability(smoothed)
        track = self._tracks.get(track_id)
        changed: list[Event] = []
        if track is None:
            track = self._tracks[track_id] = _Track(last_s=time_s)
        elif time_s - track.last_s > s.max_gap_s:
            changed += self._close(track, track.last_s)
            track.above_since, track.values = None, []
        track.last_s = time_s
        if track.event is not None:
            if value < s.threshold - s.release_margin:
                changed += self._close(track, time_s)
            else:
                track.values.append(value)
                track.event.confidence = float(np.mean(track.values))
            return changed
        if value < s.threshold:
            track.above_since, track.values = None, []
            return changed
        if track.above_since is None:
            track.above_since = time_s
        track.values.append(value)
        if time_s - track.above_since >= s.hold_s and time_s >= track.quiet_until:
            track.event = Event(EventKind.DISTRESS, track_id, track.above_since, time_s,
                                float(np.mean(track.values)))
            changed.append(track.event)
        return changed

    def expire(self, time_s: float) -> list[Event]:
        """Tracks unseen for more than ``max_gap_s`` (the face left, or got a new track number):
        their open event ends when they were last seen, and they are forgotten once their
        cool-down is over. Call it every frame, seen faces or not."""
        s, ended = self.settings, []
        for track_id, track in list(self._tracks.items()):
            if time_s - track.last_s > s.max_gap_s:
                ended += self._close(track, track.last_s)
                if time_s >= track.quiet_until:
                    del self._tracks[track_id]
        return ended

    def finish(self) -> list[Event]:
        """End every open event at its track's last observation (end of a video, shutdown)."""
        return [e for t in self._tracks.values() for e in self._close(t, t.last_s)]

    def _close(self, track: _Track, at: float) -> list[Event]:
        if track.event is None:
            return []
        event, track.event = track.event, None
        event.ended_s = at
        track.above_since, track.values = None, []
        track.quiet_until = at + self.settings.cooldown_s
        return [event]
