"""A tracked face's age is estimated once per period of age_every_s and carried on the track's
other frames in that period (Pipeline.ages): a person's age does not change between frames,
and the age model costs as much a face as the expression model."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.config import AnalysisConfig
from affectlens.models.age import AgeEstimator
from affectlens.pipeline import Models, Pipeline
from affectlens.sources import open_media
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import FaceAnalysis, Frame, period_of


@pytest.fixture
def age_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many faces each call of the age model was given."""
    runs: list[int] = []
    predict = AgeEstimator.predict

    def counting(self: AgeEstimator, crops: np.ndarray) -> np.ndarray:
        runs.append(len(crops))
        return predict(self, crops)

    monkeypatch.setattr(AgeEstimator, "predict", counting)
    return runs


@pytest.fixture(scope="module")
def video_frames(media) -> list[Frame]:
    """The first 4 s of a real video of one woman's face, every frame (23.98 fps)."""
    source = open_media(media("WolfgangLanger_Pexels.mp4"))
    return [frame for frame in source.frames() if frame.timestamp < 4.0]


def analysed(frames: list[Frame], config: AnalysisConfig, models: Models,
             batch: int = 8) -> list[FaceAnalysis]:
    pipeline = Pipeline(config, models)
    state = pipeline.start_source(24.0)
    results: list[FaceAnalysis] = []
    for start in range(0, len(frames), batch):
        results += pipeline.analyse(frames[start : start + batch], state)
    return results


def test_a_tracks_age_is_estimated_once_a_period_and_carried_between(
    video_frames: list[Frame], models: Models, age_runs: list[int]
) -> None:
    every_frame = analysed(video_frames, AnalysisConfig(age_every_s=None, pose=False), models)
    estimated_every_frame = sum(age_runs)
    age_runs.clear()
    carried = analysed(video_frames, AnalysisConfig(pose=False), models)  # age_every_s 1
    # the same faces and tracks: only the ages' schedule differs
    assert [a.track_ids.tolist() for a in carried] == [a.track_ids.tolist() for a in every_frame]
    faces = sum(len(a) for a in carried)
    assert faces == estimated_every_frame >= 90
    # one estimate a track a second of video (the face is on one track throughout, its first
    # frames before the tracker confirms it estimated each time), not one a frame
    untracked = sum(int((a.track_ids == UNTRACKED).sum()) for a in carried)
    assert sum(age_runs) <= untracked + 5 < faces / 10
    # each frame carries the estimate made on the track's first frame of its period, which is
    # what the every-frame run estimated on that frame
    first_of_period: dict[tuple[int, int], float] = {}
    for ours, reference in zip(carried, every_frame):
        for track, age, reference_age in zip(ours.track_ids, ours.ages, reference.ages):
            if track == UNTRACKED:
                assert age == pytest.approx(reference_age, abs=1e-3)
                continue
            key = (int(track), period_of(ours.timestamp, 1.0))
            expected = first_of_period.setdefault(key, float(reference_age))
            assert age == pytest.approx(expected, abs=1e-3)
    assert len(first_of_period) == 4  # one track over 4 periods


def test_carried_ages_do_not_depend_on_how_frames_are_batched(
    video_frames: list[Frame], models: Models
) -> None:
    """A track's estimate made earlier in a batch, or in an earlier batch, is carried alike
    (live cameras send one frame at a time, offline analysis 8)."""
    config = AnalysisConfig(pose=False)
    ones = analysed(video_frames[:60], config, models, batch=1)
    eights = analysed(video_frames[:60], config, models, batch=8)
    for a, b in zip(ones, eights, strict=True):
        assert a.track_ids.tolist() == b.track_ids.tolist()
        np.testing.assert_allclose(a.ages, b.ages, atol=1e-3)


def test_still_images_estimate_every_face(models: Models, media, age_runs: list[int]) -> None:
    """No tracker, so no carrying: each face of each image is estimated."""
    source = open_media(media("multi_face.jpg"))
    pipeline = Pipeline(AnalysisConfig(pose=False), models)
    (analysis,) = pipeline.analyse(list(source.frames()), pipeline.start_source(None))
    assert len(analysis) == 5 and sum(age_runs) == 5
    assert len(set(np.round(analysis.ages, 3).tolist())) == 5
