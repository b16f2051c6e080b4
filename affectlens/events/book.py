"""One owner of an event's life in a source (issue 14): opened, grouped, numbered, closed.

The rules (falls.py, distress.py) decide *when* something starts and ends; this book decides
what that means for the events a source has open, in one place for offline analysis and the
live worker alike:

- **Opening.** A started event gets the source's next number (``Event.number``), which the
  live worker turns into the event's key (its run id, the number, whose event it is).
- **Grouping repeats.** While an event of a kind is open for someone (a track, a zone, the
  camera), another start of that kind for them is the same event going on, not a new one: it
  is dropped here, and so is its end. One person on the floor is one open event.
- **Hot changes** (new thresholds or zones, ``SourceSession.apply``) do not touch the book:
  what is open stays open with its number and its start.
- **Adopting.** A live camera's new run (a worker restarted, the service restarted) adopts
  the falls and long lies its earlier run left open (``adopt``): they stay open under their
  stored key, and the fall rule holds the person as down where they fell until it sees them
  up (falls.py, ``FallRule.adopt``). Reminders go on; no second event is raised.
- **Closing.** An event closes when its rule ends it: the person seen upright or seen leaving,
  the face calm again, the zone moving, the camera back. Nothing here closes an event because
  time passed; a person still presumed on the floor stays open, and the service reminds
  staff and escalates (service/reminders.py) instead. At the end of a source (a video's end,
  a worker stopping) ``close_all`` ends what is left, at a time the caller gives.

Thread-safe: a live camera's reader thread opens and closes ``camera_offline`` events while
frames are analysed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

from affectlens.events.event import Event
from affectlens.vocabulary import EventKind


class EventBook:
    """The events of one source that are open now, by kind and whose they are."""

    def __init__(self) -> None:
        self._open: dict[tuple[EventKind, int | str | None], Event] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def note(self, events: Iterable[Event]) -> list[Event]:
        """Events that started (``ended_s`` None) or ended, as a rule returned them; returns
        those that open or close an event of this book, in order. A start while the same
        kind is open for the same one (a repeat) and an end of an event not open here are
        dropped."""
        with self._lock:
            return [e for e in events if self._note(e)]

    def _note(self, event: Event) -> bool:
        slot = (event.kind, event.who)
        if event.ended_s is None:
            if slot in self._open:
                return False  # a repeat: the open event goes on
            event.number = next(self._numbers)
            self._open[slot] = event
            return True
        if self._open.get(slot) is not event:
            return False
        del self._open[slot]
        return True

    def adopt(self, events: Iterable[Event]) -> list[Event]:
        """Open events an earlier run of the source raised (each with its ``key``), as if
        started here; an event whose kind is open for the same one already is dropped.
        Returns those opened."""
        events = list(events)
        if any(event.key is None or event.ended_s is not None for event in events):
            raise ValueError("only open events with their stored key can be adopted")
        return self.note(events)

    def open_event(self, kind: EventKind, who: int | str | None = None) -> Event | None:
        """The open event of ``kind`` for ``who``, if any."""
        with self._lock:
            return self._open.get((kind, who))

    def opened(self) -> list[Event]:
        """Every open event, oldest number first."""
        with self._lock:
            return sorted(self._open.values(), key=lambda e: e.number or 0)

    def close_all(self, at_s: float) -> list[Event]:
        """The source ends: every event still open ends at ``at_s`` (never before it was
        detected); returns them."""
        with self._lock:
            closed = sorted(self._open.values(), key=lambda e: e.number or 0)
            self._open.clear()
        for event in closed:
            event.ended_s = max(at_s, event.detected_s)
        return closed
