"""The sustained-distress rule on hand-made sequences and on a real crying-then-laughing video."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from affectlens.events.distress import DistressRule, DistressSettings, negative_probability
from affectlens.result import SMOOTHED_COLUMNS
from affectlens.types import EXPRESSIONS

FPS = 5.0


def probs(**shares: float) -> np.ndarray:
    out = np.zeros(len(EXPRESSIONS))
    for name, share in shares.items():
        out[EXPRESSIONS.index(name)] = share
    out[EXPRESSIONS.index("neutral")] += 1 - out.sum()
    return out


def feed(rule: DistressRule, spans: list[tuple[float, np.ndarray]], track: int = 1,
         start: float = 0.0) -> list:
    """Observations at FPS for each (seconds, probabilities) span, in order; events back."""
    events, n = [], 0
    for seconds, p in spans:
        for _ in range(round(seconds * FPS)):
            events += rule.update(track, start + n / FPS, p)
            n += 1
    return events


SAD, HAPPY = probs(sad=0.8), probs(happy=0.9)


def test_negative_probability_sums_the_negative_classes() -> None:
    mixed = probs(sad=0.3, fear=0.2, angry=0.1, happy=0.4)
    assert negative_probability(mixed) == pytest.approx(0.6)


def test_sustained_sadness_fires_once_after_the_hold_and_ends() -> None:
    rule = DistressRule(DistressSettings(hold_s=10))
    events = feed(rule, [(3, HAPPY), (15, SAD), (5, HAPPY)])
    assert len(events) == 2 and events[0] is events[1]  # reported when it starts and ends
    event = events[0]
    assert event.started_s == pytest.approx(3.0)
    assert event.detected_s == pytest.approx(13.0)
    assert event.ended_s == pytest.approx(18.0)
    assert event.confidence == pytest.approx(0.8)
    assert rule.finish() == []


def test_a_grimace_is_not_distress() -> None:
    rule = DistressRule(DistressSettings(hold_s=10))
    assert feed(rule, [(4, SAD), (1, HAPPY), (4, SAD), (1, HAPPY), (9.6, SAD)]) == []


def test_hysteresis_keeps_an_event_through_a_dip() -> None:
    rule = DistressRule(DistressSettings(hold_s=2, threshold=0.6, release_margin=0.1))
    events = feed(rule, [(3, SAD), (2, probs(sad=0.55)), (2, SAD), (1, probs(sad=0.45))])
    assert len(events) == 2 and events[0].ended_s == pytest.approx(7.0)


def test_cooldown_per_track_and_tracks_are_independent() -> None:
    rule = DistressRule(DistressSettings(hold_s=2, cooldown_s=60))
    first = feed(rule, [(3, SAD), (1, HAPPY), (5, SAD), (1, HAPPY)])
    assert len(first) == 2  # the second spell, within the cool-down, is quiet
    other = feed(rule, [(3, SAD)], track=2)
    assert len(other) == 1 and other[0].track_id == 2
    later = feed(rule, [(3, SAD)], start=120)
    assert len(later) == 1 and later[0].started_s == pytest.approx(120)


def test_an_unseen_gap_restarts_the_count_and_closes_events() -> None:
    rule = DistressRule(DistressSettings(hold_s=4, max_gap_s=2))
    assert feed(rule, [(3, SAD)]) + feed(rule, [(3, SAD)], start=10) == []
    events = feed(rule, [(5, SAD)], start=20)
    assert len(events) == 1
    closed = rule.update(1, 40.0, SAD)  # back after 15 s unseen
    assert closed == [events[0]] and events[0].ended_s == pytest.approx(24.8)


def test_finish_closes_open_events() -> None:
    rule = DistressRule(DistressSettings(hold_s=1))
    events = feed(rule, [(3, SAD)])
    assert rule.finish() == events and events[0].ended_s == pytest.approx(2.8)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        DistressSettings(threshold=1.5)
    with pytest.raises(ValidationError):
        DistressSettings(hold_seconds=3)


def test_crying_then_laughing_video(wolfgang) -> None:
    """WolfgangLanger_Pexels.mp4: she cries in the first seconds and laughs at the end."""
    rule = DistressRule(DistressSettings(threshold=0.5, hold_s=2, cooldown_s=600))
    frames = wolfgang[1].frames
    events = []
    for row in frames[frames.track_id.notna()].itertuples():
        if row.track_id >= 0:
            p = np.array([getattr(row, c) for c in SMOOTHED_COLUMNS])
            events += rule.update(int(row.track_id), row.time_s, p)
    events += rule.finish()
    duration = frames.time_s.max()
    assert events, "the crying at the start is sustained distress"
    assert events[0].started_s < 0.3 * duration
    assert all(e.ended_s < 0.8 * duration for e in events)  # the laughing end is not


def test_a_face_that_leaves_ends_its_event_where_it_was_last_seen() -> None:
    """expire() runs every frame, faces or not: the event does not stay open until shutdown,
    and tracks that will never come back are not remembered for ever."""
    rule = DistressRule(DistressSettings(hold_s=1, max_gap_s=2, cooldown_s=30))
    (event,) = feed(rule, [(3, SAD)])
    assert rule.expire(4.0) == [] and event.ended_s is None  # unseen 1.2 s: not yet
    assert rule.expire(5.0) == [event] and event.ended_s == pytest.approx(2.8)
    assert rule.finish() == []  # ended once, not again at shutdown
    assert feed(rule, [(3, SAD)], start=10) == []  # still in its cool-down: remembered
    for n in range(1000):  # a busy day's faces, each seen once
        rule.update(100 + n, 20.0 + n, HAPPY)
    rule.expire(1100.0)
    assert len(rule._tracks) <= 2
