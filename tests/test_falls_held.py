"""A person presumed on the floor is never closed by a timeout (issue 14): their fall and long
lie stay open however long they lie unseen, and end only when someone is seen up where they
lay, or a new fall there replaces them. Memory stays bounded: past ``hold_unseen_s`` the
held person keeps no pose history (held as a place, like a person adopted from an earlier
run), and at most ``MAX_HELD`` people are held unseen on a camera.

Before, a fallen person unseen for ``hold_unseen_s`` (an hour) was taken to be gone: their
fall and long lie ended although nobody had seen them get up, and the reminders stopped.

Synthetic time, the rule's own API: a person falls sideways in front of a chest-height camera
(test_falls.py's side view), then nobody is detected."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_falls import POSES, _side_view

from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import MAX_HELD, FallEvent, FallRule

STEP = 0.1  # seconds between frames while people are seen


def _pose(name: str, shift: float = 0.0) -> np.ndarray:
    body = _side_view(*POSES[name])
    body[:, 0] += shift
    return body


def _act(rule: FallRule, track: int, t: float, script: list[tuple[str, float]],
         shift: float = 0.0) -> tuple[list[FallEvent], float]:
    """One person moving between POSES (each reached in the seconds given), ``shift`` px to
    the right; returns the events and the time after."""
    events: list[FallEvent] = []
    previous = POSES[script[0][0]]
    for name, seconds in script:
        target = POSES[name]
        steps = max(1, round(seconds / STEP))
        for k in range(1, steps + 1):
            f = k / steps
            mix = [np.add(np.multiply(a, 1 - f), np.multiply(b, f))
                   for a, b in zip(previous, target)]
            body = _side_view(float(mix[0]), float(mix[1]), tuple(mix[2]), float(mix[3]))
            body[:, 0] += shift
            events += rule.update(t, np.array([track]), body[None])
            t += STEP
        previous = target
    return events, t


def _fall(rule: FallRule, track: int, t: float, shift: float = 0.0
          ) -> tuple[list[FallEvent], float]:
    return _act(rule, track, t, [("stand", 1), ("lie", 0.6), ("lie", 1)], shift)


def _nobody(rule: FallRule, t: float, seconds: float, step: float = 1.0
            ) -> tuple[list[FallEvent], float]:
    """Frames with nobody detected for ``seconds`` (one every ``step``)."""
    events: list[FallEvent] = []
    for _ in range(round(seconds / step)):
        events += rule.update(t, np.array([], np.int64), np.zeros((0, 11, 3)))
        t += step
    return events, t


def test_an_unseen_fallen_person_stays_open_past_hold_unseen_s_until_seen_up() -> None:
    rule = FallRule()
    assert rule.settings.hold_unseen_s == 3600
    events, t = _fall(rule, 1, 0.0)
    more, t = _nobody(rule, t, 3 * 3600)  # three hours unseen on the floor
    events += more
    assert [e.kind for e in events] == ["fall", "long_lie"]
    fall, long_lie = events
    assert fall.ended_s is None and long_lie.ended_s is None
    assert rule.states() == {1: "on_floor"}
    assert len(rule.unseen_regions()) == 1  # still blurred where they lay
    # Held as a place now: someone up where they lay, whose track began there, ends both.
    up, t = _act(rule, 2, t, [("stand", 1.5)])
    assert [e.kind for e in up] == ["fall", "long_lie"]
    assert fall.ended_s is not None and long_lie.ended_s is not None
    assert fall.ended_s > 3 * 3600
    assert 1 not in rule.states()


def test_a_carer_beside_a_person_held_as_a_place_does_not_end_the_fall() -> None:
    """Past hold_unseen_s the person is a place; a carer who walks in from elsewhere and
    stands beside them did not begin there: nothing ends."""
    rule = FallRule(FallSettings(hold_unseen_s=60))
    events, t = _fall(rule, 1, 0.0)
    more, t = _nobody(rule, t, 600)
    events += more
    for step in range(40):  # walks in from 400 px away, then stands beside them for 2 s
        shift = max(0.0, 400.0 - step * 20.0) + 60.0
        events += rule.update(t, np.array([2]), _pose("stand", shift)[None])
        t += STEP
    assert [e.kind for e in events] == ["fall", "long_lie"]
    assert all(e.ended_s is None for e in events)


def test_a_track_first_seen_down_where_a_held_person_lies_takes_over_their_events() -> None:
    """The pose model finds the person lying again long after it lost them: a new track,
    first seen down there, is that person: no second long lie, and getting up ends both."""
    rule = FallRule(FallSettings(hold_unseen_s=60))
    events, t = _fall(rule, 1, 0.0)
    more, t = _nobody(rule, t, 600)
    events += more
    again, t = _act(rule, 7, t, [("lie", 40)])  # seen lying there for over long_lie_s
    assert again == []
    assert set(rule.states()) == {7}  # the held person is this track now
    up, t = _act(rule, 7, t, [("lie", 0.1), ("stand", 1), ("stand", 1.5)])
    assert {e.kind for e in up} == {"fall", "long_lie"}
    assert all(e.ended_s is not None for e in events)


def test_a_track_first_seen_down_where_a_person_was_just_lost_takes_over_too() -> None:
    """The same within ``hold_unseen_s``, while the lost person still keeps their pose
    history: the tracker gives the person found lying again a new id a few seconds later.
    Before, that track raised a second long lie for the one person on the floor."""
    rule = FallRule()
    events, t = _fall(rule, 1, 0.0)
    more, t = _nobody(rule, t, 5)  # lost for a few seconds, well within hold_unseen_s
    events += more
    again, t = _act(rule, 7, t, [("lie", 40)])  # found lying there again, past long_lie_s
    events += again
    assert [e.kind for e in events] == ["fall", "long_lie"]  # one long lie, on the fall's clock
    assert events[1].started_s == events[0].started_s
    assert set(rule.states()) == {7}
    up, t = _act(rule, 7, t, [("lie", 0.1), ("stand", 1), ("stand", 1.5)])
    assert {e.kind for e in up} == {"fall", "long_lie"}
    assert all(e.ended_s is not None for e in events)


def test_a_second_person_lying_beside_one_seen_down_is_not_taken_over() -> None:
    """Two people on the floor side by side, both seen in the same frames: each keeps their
    own events (only a person lost from view is taken over)."""
    rule = FallRule()
    events: list[FallEvent] = []
    t = 0.0
    for name, seconds in [("stand", 1), ("lie", 0.6), ("lie", 40)]:
        for _ in range(max(1, round(seconds / STEP))):
            bodies = np.stack([_pose(name), _pose("lie", 30.0)])
            events += rule.update(t, np.array([1, 2]), bodies)
            t += STEP
    kinds = sorted((e.track_id, e.kind) for e in events)
    assert (1, "fall") in kinds and (1, "long_lie") in kinds and (2, "long_lie") in kinds
    assert set(rule.states()) == {1, 2}


def test_a_new_fall_where_a_held_person_lies_still_replaces_them() -> None:
    """A camera looping a fall recording, with loops hours apart: one open event at a time."""
    rule = FallRule()
    first, t = _fall(rule, 1, 0.0)
    more, t = _nobody(rule, t, 2 * 3600)
    first += more
    second, t = _fall(rule, 2, t)
    falls = list({id(e): e for e in first + second if e.kind == "fall"}.values())
    assert [e.track_id for e in falls] == [1, 2]
    assert falls[0].ended_s is not None and falls[1].ended_s is None
    assert set(rule.states()) == {2}


def test_at_most_max_held_people_are_held_unseen(caplog: pytest.LogCaptureFixture) -> None:
    """A bound on memory and open alerts: one more person held on the floor unseen than
    MAX_HELD lets go of the one unseen longest, with a warning."""
    rule = FallRule()
    falls: list[FallEvent] = []
    t = 0.0
    with caplog.at_level(logging.WARNING, logger="affectlens.events.falls"):
        for person in range(MAX_HELD + 1):  # each falls 400 px beside the last, then is lost
            events, t = _fall(rule, person + 1, t, shift=400.0 * person)
            falls += [e for e in events if e.kind == "fall" and e.ended_s is None]
            _, t = _nobody(rule, t, 5)
    assert len(falls) == MAX_HELD + 1
    assert [f.ended_s is not None for f in falls] == [True] + [False] * MAX_HELD
    assert len(rule.states()) == MAX_HELD and 1 not in rule.states()
    assert "letting go of track 1" in caplog.text
