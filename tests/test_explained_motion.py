"""Changes a known face explains: a moving person wakes no detector tiles around their own
face between full searches (Pipeline._unexplained), at a bounded cost in how soon a new face
beside them is found, and none for a face that moves farther than it is looked for."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import paste, scaled_face

from affectlens.config import AnalysisConfig
from affectlens.models.face_detector import body_reach, changed_tiles, known_face_tiles
from affectlens.models.motion import MotionDetector
from affectlens.pipeline import Models, Pipeline
from affectlens.types import Frame

FPS = 5.0  # a live camera's analysed rate: one full search's second is 5 frames


def grey(seed: int) -> np.ndarray:
    """640x360 grey with a camera's few levels of noise."""
    noise = np.random.default_rng(seed).integers(-3, 4, (360, 640, 1))
    return np.repeat(np.clip(110 + noise, 0, 255), 3, axis=2).astype(np.uint8)


def walker_at(walker: np.ndarray, i: int, seed: int) -> np.ndarray:
    """Frame i: head and shoulders walking right, 12 px an analysed frame (60 px/s)."""
    return paste(grey(seed), walker, 40 + 12 * i, 90)


@pytest.fixture(scope="module")
def walker(portrait: np.ndarray) -> np.ndarray:
    return scaled_face(portrait, 58)  # 151x177: the face, 58 px, and hair and shoulders


class Searches:
    """Records each call of the detector's tile search: per analysed frame, its plans."""

    def __init__(self, models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames: list[list[list]] = []
        search = models.detector.candidates

        def recorded(images, plans=None):
            self.frames[-1].append(list(plans[0]) if plans and plans[0] is not None else None)
            return search(images, plans)

        monkeypatch.setattr(models.detector, "candidates", recorded)

    def next_frame(self) -> None:
        self.frames.append([])


def run(pipeline: Pipeline, images: list[np.ndarray], searches: Searches | None = None) -> list:
    state = pipeline.start_source(FPS)
    analyses = []
    for i, image in enumerate(images):
        if searches is not None:
            searches.next_frame()
        (analysis,) = pipeline.analyse([Frame(image, i, i / FPS, "cam")], state)
        analyses.append(analysis)
    return analyses


def test_changes_outside_leaves_out_what_lies_in_the_rectangles() -> None:
    """Changes.outside drops the changed pixels inside the rectangles, and only those."""
    motion = MotionDetector(threshold=12, min_face_px=24)
    before, after = np.zeros((360, 640, 3), np.uint8), np.zeros((360, 640, 3), np.uint8)
    after[60:120, 60:120] = 255
    after[240:300, 400:460] = 255
    motion.update(before)
    changes = motion.update(after)
    assert changes is not None
    whole = changes.within(np.array([[0, 0, 640, 360]]))[0]
    left = changes.outside(np.array([[0, 0, 300, 360]]))
    assert left.within(np.array([[0, 0, 300, 360]]))[0] == 0
    assert left.within(np.array([[300, 0, 640, 360]]))[0] == pytest.approx(whole / 2, rel=0.1)
    assert changes.outside(np.zeros((0, 4))) is changes


def test_a_walking_person_wakes_no_tiles_around_their_own_face_between_full_searches(
    walker: np.ndarray, models: Models, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Head and shoulders walking across the room: between the searches on each second's
    first frame, the detector looks only where the face can be (the tiles that hold it), not
    in the tiles its hair and shoulders change; the face is found on every frame, where a
    search of every tile on every frame finds it."""
    images = [walker_at(walker, i, i) for i in range(15)]
    reference = run(Pipeline(AnalysisConfig(full_scan_every_s=None), models), images)
    searches = Searches(models, monkeypatch)
    gated = run(Pipeline(AnalysisConfig(), models), images, searches)
    tiles = models.detector.tiles(640, 360)
    motion = MotionDetector(AnalysisConfig().motion_threshold, 24)
    motion.update(images[0])
    for i in range(1, 15):
        changes = motion.update(images[i])
        assert len(gated[i]) == len(reference[i]) == 1
        assert np.abs(gated[i].faces.boxes - reference[i].faces.boxes).max() < 3
        if i % 5 == 0:
            continue  # a full search's frame: the tiles changed since they were searched
        assert len(searches.frames[i]) == 1  # the face found again: one search
        known = known_face_tiles(tiles, gated[i - 1].faces.boxes)
        assert {(t.level, t.x, t.y) for t in searches.frames[i][0]} == {
            (t.level, t.x, t.y) for t, keep in zip(tiles, known) if keep}
        woken = changed_tiles(tiles, changes) & ~known
        assert woken.sum() >= 4  # what the walk changes, and the search no longer looks at


def test_a_face_coming_into_view_beside_a_walking_person_is_found_by_the_next_full_search(
    walker: np.ndarray, portrait: np.ndarray, models: Models,
) -> None:
    """What the explanation costs: a small face that comes into view (1.2 s) inside a walking
    person's reach is found by the search on the next second's first frame (2.0 s), not on the
    next frame; alone in the room, it is found on the frame it comes."""
    small = scaled_face(portrait, 28)
    come = 6  # 1.2 s, just after the search of 1.0 s

    def frame(i: int, with_walker: bool) -> np.ndarray:
        image = grey(i)
        if i >= come:
            paste(image, small, 200, 272)  # below the walker's shoulders, never under them
        return paste(image, walker, 120 + 12 * i, 90) if with_walker else image

    pipeline = Pipeline(AnalysisConfig(), models)
    alone = run(pipeline, [frame(i, False) for i in range(12)])
    assert [len(a) for a in alone] == [0] * come + [1] * 6
    images = [frame(i, True) for i in range(12)]
    beside = run(pipeline, images)
    walker_face = beside[come - 1].faces.boxes[0]
    reach = body_reach(walker_face[None])[0]
    small_face = alone[come].faces.boxes[0]
    assert (reach[:2] <= small_face[:2]).all() and (small_face[2:] <= reach[2:]).all()
    assert [len(a) for a in beside] == [1] * 10 + [2] * 2  # 2.0 s: frame 10
    reference = run(Pipeline(AnalysisConfig(full_scan_every_s=None), models), images)
    assert [len(a) for a in reference] == [1] * come + [2] * 6


def test_a_face_that_moves_farther_than_it_is_looked_for_is_found_on_that_frame(
    portrait: np.ndarray, models: Models, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A face that jumps beyond the tiles that hold it (a quick turn or step: 70 px in one
    analysed frame, inside its person's reach) is not found there; the tiles the change woke
    are then searched on the same frame, and find it."""
    face = scaled_face(portrait, 40)
    images = [paste(grey(i), face, 200 if i < 7 else 270, 120) for i in range(10)]
    searches = Searches(models, monkeypatch)
    gated = run(Pipeline(AnalysisConfig(), models), images, searches)
    assert [len(a) for a in gated] == [1] * 10
    assert gated[7].faces.boxes[0, 0] - gated[6].faces.boxes[0, 0] == pytest.approx(70, abs=3)
    assert len(searches.frames[7]) == 2  # its own tiles, then the ones the change woke
    # elsewhere one search a frame, or none where the still face is taken over
    assert all(len(calls) <= 1 for calls in searches.frames[:7] + searches.frames[8:])
