"""The one event type every rule raises and every sink writes (issue 14).

A fall, a long lie, inactivity in a zone, sustained distress and a camera that went offline
are all an ``Event``: the rules of affectlens.events make them, ``EventBook`` (book.py) keeps
them from opening to closing, offline ``analyze`` writes them to events.csv (``event_row``)
and the live worker sends them as messages. One type, so no sink has to know which rule made
an event, and a field added here reaches every table and message at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from affectlens.vocabulary import EventKind

# events.csv: one row per event. track_id: the person track (persons.csv) of a fall or long
# lie, the face track (frames.csv, tracks.csv) of distress, empty for inactivity (a zone's).
EVENT_COLUMNS = [
    "source", "kind", "track_id", "started_s", "detected_s", "ended_s", "confidence", "zone",
    "x", "y",
]


@dataclass
class Event:
    """Times in seconds of the source's clock. A rule returns the same object when the event
    starts (``ended_s`` None) and when it ends, updating ``confidence`` in between."""

    kind: EventKind
    track_id: int | None  # the person (fall, long lie) or face (distress); None: a zone's
    started_s: float  # first floor frame (fall, long lie); last movement (inactivity); first
    # frame above the threshold (distress); the outage's start (camera_offline)
    detected_s: float  # when the rule fired
    confidence: float  # classifier probability (fall, long lie); mean negative probability
    # (distress); 1.0 for inactivity and camera_offline
    zone: str | None = None
    location: tuple[float, float] | None = None  # hip centre, pixels (falls)
    ended_s: float | None = None
    # The source's number for it, given when EventBook (book.py) opened it; None before.
    number: int | None = field(default=None, compare=False)
    # The store's key of an event a live camera's earlier run raised and this run adopted
    # (a person still presumed on the floor, EventBook.adopt); None: raised in this run.
    key: str | None = field(default=None, compare=False)

    @property
    def who(self) -> int | str | None:
        """Whose event it is: the track, else the zone (inactivity), else the camera."""
        return self.track_id if self.track_id is not None else self.zone


def event_row(source: str, event: Event) -> dict[str, Any]:
    """One row per event, in EVENT_COLUMNS order."""
    x, y = event.location if event.location else (None, None)
    return {
        "source": source, "kind": str(event.kind), "track_id": event.track_id,
        "started_s": round(event.started_s, 4), "detected_s": round(event.detected_s, 4),
        "ended_s": None if event.ended_s is None else round(event.ended_s, 4),
        "confidence": round(event.confidence, 4), "zone": event.zone, "x": x, "y": y,
    }
