"""EventBook (issue 14): one owner of a source's open events. Starts are numbered, a repeat
of an open kind for the same one is the same event, only what is open can end, and nothing
closes because time passed."""

from __future__ import annotations

from affectlens.events.book import EventBook
from affectlens.events.event import Event
from affectlens.vocabulary import EventKind


def fall(track: int, at: float) -> Event:
    return Event(EventKind.FALL, track, at, at + 0.3, 0.9, location=(100.0, 200.0))


def test_a_repeat_of_an_open_event_is_the_same_event() -> None:
    book = EventBook()
    first, repeat, other = fall(3, 1.0), fall(3, 5.0), fall(4, 5.0)
    assert book.note([first]) == [first] and first.number == 1
    assert book.note([repeat, other]) == [other]  # track 3 is on the floor already
    assert repeat.number is None and other.number == 2
    repeat.ended_s = 6.0
    assert book.note([repeat]) == []  # its end is not the open one's
    assert book.opened() == [first, other]
    first.ended_s = 7.0
    assert book.note([first]) == [first]
    again = fall(3, 9.0)  # a new fall once the first ended: a new event
    assert book.note([again]) == [again] and again.number == 3


def test_open_events_stay_open_until_the_source_ends() -> None:
    book = EventBook()
    lie = Event(EventKind.LONG_LIE, 2, 10.0, 40.0, 0.8)
    outage = Event(EventKind.CAMERA_OFFLINE, None, 12.0, 12.0, 1.0)
    book.note([lie, outage])
    assert book.open_event(EventKind.CAMERA_OFFLINE) is outage
    assert book.open_event(EventKind.LONG_LIE, 2) is lie  # however long: no timeout here
    assert book.close_all(30.0) == [lie, outage]
    assert lie.ended_s == 40.0 and outage.ended_s == 30.0  # never before it was detected
    assert book.opened() == []
