"""The pose model skips still pictures (people.PoseGate): on a frame in which nothing changed
since the frame it last ran on, within the same period of its every_s (the engine's: the
longer of full_scan_every_s and still_tiles_every_s), that run's people are used again. The
outcome must be the one of running it on every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import affectlens
from affectlens.config import AnalysisConfig
from affectlens.engine import Engine
from affectlens.events.fall_settings import FallSettings
from affectlens.models.motion import MotionDetector
from affectlens.models.pose import PersonDetections, PoseEstimator
from affectlens.people import PeoplePipeline, PoseGate
from affectlens.pipeline import Pipeline
from affectlens.samples import portrait
from affectlens.types import Frame


@pytest.fixture
def pose_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pictures each call of the pose model was given."""
    runs: list[int] = []
    predict = PoseEstimator.predict

    def counting(self: PoseEstimator, images: list[np.ndarray]) -> list[PersonDetections]:
        runs.append(len(images))
        return predict(self, images)

    monkeypatch.setattr(PoseEstimator, "predict", counting)
    return runs


def test_a_fall_then_a_still_room_gives_every_frames_outcome_for_a_tenth_of_the_pose_runs(
    fall_video: Path, pose_runs: list[int]
) -> None:
    """URFD fall-01, then its last frame held 4 s (the person on the floor, nothing moving):
    the same fall event and the same persons table as the pose model on every frame, with
    the model run at most once a second on the still part instead of ten times (once per
    still_tiles_every_s, 10 s, since the picture did not change since it last ran)."""
    config = AnalysisConfig(fps=10, threads=1)
    gated = affectlens.analyze(fall_video, config)
    runs_gated = sum(pose_runs)
    pose_runs.clear()
    every = affectlens.analyze(fall_video, config,
                               people=PeoplePipeline(FallSettings(), threads=1))
    assert sum(pose_runs) == every.sources.frames_analysed.iloc[0]  # the reference: all
    assert list(gated.events.kind) == ["fall"]
    pd.testing.assert_frame_equal(gated.events, every.events)
    assert gated.persons is not None and every.persons is not None
    pd.testing.assert_frame_equal(gated.persons, every.persons)
    assert sum(pose_runs) - runs_gated >= 30  # of the 40 still frames, all but one a second


def test_the_pose_model_runs_where_the_picture_changed_or_a_period_began(
    pose_runs: list[int]
) -> None:
    """A room with one face, 10 frames a second: sensor noise of a few grey levels lets the
    pose model skip; a hand-sized patch that changes, a new second, or a frame of another
    size makes it run; with full_scan_every_s None (the reference) it runs on every frame."""
    gate = PoseGate(1.0, MotionDetector(threshold=12, min_face_px=24))
    people = PeoplePipeline(FallSettings(), threads=1, gate=gate)
    state = people.start_source(10.0)
    room = np.full((360, 640, 3), 110, np.uint8)
    room[80:256, 100:250] = portrait()[:176, :150]
    noise = np.random.default_rng(0)

    def frame(index: int, image: np.ndarray) -> Frame:
        return Frame(image, index, index / 10, "room")

    def noisy() -> np.ndarray:
        return np.clip(room.astype(int) + noise.integers(-3, 4, room.shape), 0, 255
                       ).astype(np.uint8)

    patch = room.copy()
    patch[300:340, 500:540] = 200  # something moved by the window
    frames = [frame(0, room), *(frame(i, noisy()) for i in range(1, 5)), frame(5, patch),
              frame(6, patch), *(frame(i, noisy()) for i in range(7, 10)), frame(10, room),
              frame(11, room[:240, :320].copy())]
    people.analyse(frames[:3], state)
    people.analyse(frames[3:], state)  # across calls the last run's picture is remembered
    # Run on: 0 (first), 5 (the patch), 7 (back from the patch), 10 (a new second), 11 (size).
    assert pose_runs == [1, 4]
    pose_runs.clear()
    reference = Engine(Pipeline(AnalysisConfig(full_scan_every_s=None, threads=1)),
                       FallSettings())
    assert reference.people is not None and reference.people.gate is None
    default = Engine(Pipeline(AnalysisConfig(threads=1)), FallSettings())
    assert default.people is not None and default.people.gate is not None


def test_a_reused_picture_gives_the_people_of_its_run(pose_runs: list[int]) -> None:
    """Frames the gate lets pass carry the very people the model found on the frame it last
    ran on, so the rule sees a person who did not move."""
    people = PeoplePipeline(FallSettings(), threads=1,
                            gate=PoseGate(1.0, MotionDetector(12, 24)))
    state = people.start_source(10.0)
    image = np.full((360, 640, 3), 90, np.uint8)
    image[60:300, 200:330] = portrait()[:240, :130]
    results = people.analyse([Frame(image, i, i / 10, "still") for i in range(6)], state)
    assert pose_runs == [1]
    first = results[0].people
    for result in results[1:]:
        np.testing.assert_array_equal(result.people.boxes, first.boxes)
        np.testing.assert_array_equal(result.people.keypoints, first.keypoints)
