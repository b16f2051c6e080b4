"""Track continuity in seconds: a face or person missed for less than ``lost_track_seconds``
keeps its track number at every analysis rate, and one missed for longer gets a new one."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.models.pose import PersonDetections
from affectlens.tracking.persons import PersonTracker
from affectlens.tracking.tracker import BoxTracker

BOX = np.array([[100.0, 100.0, 160.0, 160.0]])
SCORE = np.array([0.95])


def id_after_gap(fps: float, gap_s: float, lost_track_seconds: float = 1.0) -> tuple[int, int]:
    """The track number before and after ``gap_s`` seconds with no detection."""
    tracker = BoxTracker(fps, lost_track_seconds, activation=0.5)
    first = [tracker.track(BOX, SCORE)[0] for _ in range(5)][-1]
    for _ in range(round(gap_s * fps)):
        tracker.track(np.zeros((0, 4)), np.zeros(0))
    return int(first), int(tracker.track(BOX, SCORE)[0])


@pytest.mark.parametrize("fps", [2.0, 5.0, 10.0, 30.0])
def test_a_gap_shorter_than_lost_track_seconds_keeps_the_number(fps: float) -> None:
    before, after = id_after_gap(fps, gap_s=0.8)
    assert before == after == 1


@pytest.mark.parametrize("fps", [2.0, 5.0, 10.0, 30.0])
def test_a_longer_gap_starts_a_new_track(fps: float) -> None:
    before, after = id_after_gap(fps, gap_s=2.0)
    assert before == 1 and after != before


def test_lost_track_seconds_is_honoured() -> None:
    assert id_after_gap(5.0, gap_s=2.4, lost_track_seconds=3.0) == (1, 1)
    assert id_after_gap(5.0, gap_s=0.6, lost_track_seconds=0.4)[1] != 1


def test_numbers_stay_in_order_and_old_tracks_are_forgotten() -> None:
    """Faces passing one after another for a long time: numbered 1, 2, 3... and the tracker
    keeps only the few that could still come back."""
    tracker = BoxTracker(5.0, 1.0, activation=0.5)
    numbers = []
    for n in range(60):  # a new face every 2 s, each in its own place, seen 1 s
        box = BOX + np.array([(n % 8) * 70.0, (n // 8 % 6) * 70.0] * 2)
        for _ in range(5):
            numbers.append(int(tracker.track(box, SCORE)[0]))
        for _ in range(5):
            tracker.track(np.zeros((0, 4)), np.zeros(0))
    assert sorted(set(numbers) - {-1}) == list(range(1, 61))
    assert len(tracker._ids) <= 10


def test_a_person_already_lying_down_gets_a_track() -> None:
    """A person on the floor scores 0.15-0.3 with the pose model: seen like that from the
    start (the camera started after the fall), they must still get a track number, or the
    fall rule, which follows tracked people only, can never raise their long lie."""
    tracker = PersonTracker(5.0)
    people = PersonDetections(np.array([[100.0, 300.0, 260.0, 360.0]]), np.array([0.2]),
                              np.zeros((1, 17, 3)))
    ids = [int(tracker.update(people)[0]) for _ in range(5)]
    assert ids[-1] == 1 and len(set(ids[1:])) == 1
