"""Tiled BlazeFace detection: real photos, tiling geometry, suppression, small faces."""

from __future__ import annotations

import math
from itertools import pairwise

import av
import cv2
import numpy as np
import pytest
from synthetic import paste, scaled_face

from affectlens.config import AnalysisConfig
from affectlens.models import face_detector
from affectlens.models.face_detector import (
    FaceDetector,
    changed_tiles,
    known_face_tiles,
    level_sides,
    plan_tiles,
    weighted_nms,
)
from affectlens.models.motion import MotionDetector
from affectlens.pipeline import Models, Pipeline
from affectlens.types import Frame


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))


@pytest.fixture(scope="module")
def multi_face(media) -> np.ndarray:
    image = cv2.imread(str(media("multi_face.jpg")))
    assert image is not None
    return image


def test_network_input_is_rgb_in_minus_one_to_one_channel_first() -> None:
    """The tiles as the network takes them: BGR pixels swapped to RGB, 0..255 mapped to
    -1..1, channels first, contiguous (so ONNX Runtime need not copy them)."""
    rng = np.random.default_rng(3)
    pixels = [rng.integers(0, 256, (128, 128, 3), np.uint8) for _ in range(3)]
    cuts = [face_detector._TileCut(p, 0.0, 0.0, 128.0, 128.0) for p in pixels]
    got = face_detector._network_input(cuts)
    assert got.shape == (3, 3, 128, 128) and got.dtype == np.float32
    assert got.flags["C_CONTIGUOUS"]
    for tile, p in zip(got, pixels):
        expected = p[..., ::-1].transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0
        assert np.abs(tile - expected).max() < 1e-6
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_multi_face_photo_has_five_faces(models: Models, multi_face: np.ndarray) -> None:
    faces = models.detector.predict([multi_face])[0]
    assert len(faces) == 5
    assert (faces.scores >= models.detector.score_threshold).all()
    assert (faces.scores <= 1).all()
    # Five different people: no two boxes may overlap much (no duplicate left by the merging).
    for i in range(5):
        for j in range(i + 1, 5):
            assert box_iou(faces.boxes[i], faces.boxes[j]) < 0.3


class _EachTileAlone:
    """The reference cut: every tile cropped, zero-padded and resized on its own (what the
    detector did before it scaled each level's picture once)."""

    def __init__(self, image: np.ndarray, tiles) -> None:
        self.image = image

    def cut(self, tile):
        return face_detector._tile_alone(self.image, tile)


def test_tiles_cut_from_each_level_scaled_once_find_what_tiles_resized_alone_find(
    models: Models, multi_face: np.ndarray, media, monkeypatch
) -> None:
    """Each level's picture is scaled once and the tiles cut from it: the same faces, with
    boxes and landmarks within 3% of the face's width of tiles resized one by one (a tile may
    start half a scaled pixel away), on two real photos and a video frame (zero padding past
    their edges)."""
    video = av.open(str(media("WolfgangLanger_Pexels.mp4")))
    frame = next(video.decode(video=0)).to_ndarray(format="bgr24")
    video.close()
    images = [multi_face, cv2.imread(str(media("single_face.jpg"))), frame]
    detector = FaceDetector(batch_tiles=7)  # chunks that straddle levels and images
    scaled_once = detector.predict(images)
    monkeypatch.setattr(face_detector, "_LevelPictures", _EachTileAlone)
    alone = detector.predict(images)
    assert [len(f) for f in scaled_once] == [len(f) for f in alone] == [5, 1, 1]
    for ours, reference in zip(scaled_once, alone):
        order = [int(np.argmin(np.abs(reference.boxes - box).sum(1))) for box in ours.boxes]
        assert sorted(order) == list(range(len(ours)))
        width = (reference.boxes[order, 2] - reference.boxes[order, 0])[:, None]
        assert (np.abs(ours.boxes - reference.boxes[order]) < 0.03 * width).all()
        assert (np.abs(ours.keypoints - reference.keypoints[order]).max(2) < 0.03 * width).all()
        assert np.abs(ours.scores - reference.scores[order]).max() < 0.02


def test_a_level_scaled_once_only_where_its_tiles_lie_together(multi_face: np.ndarray) -> None:
    """Tiles searched far apart (a gated search: a face in one corner, a change in the
    other) are resized alone, not by scaling the whole frame between them; neighbours share
    one scaled picture."""
    height, width = multi_face.shape[:2]
    finest = [t for t in plan_tiles(width, height, 24) if t.level == max(
        t.level for t in plan_tiles(width, height, 24))]
    corners = [finest[0], finest[-1]]
    apart = face_detector._LevelPictures(multi_face, corners)
    assert corners[0].level not in apart._levels
    alone = face_detector._tile_alone(multi_face, corners[1])
    assert np.array_equal(apart.cut(corners[1]).pixels, alone.pixels)
    together = face_detector._LevelPictures(multi_face, finest[:2])
    assert finest[0].level in together._levels
    cut = together.cut(finest[1])
    assert abs(cut.x - finest[1].x) <= finest[1].side / face_detector.INPUT


def test_boxes_inside_image_and_keypoints_inside_box(
    models: Models, multi_face: np.ndarray
) -> None:
    height, width = multi_face.shape[:2]
    faces = models.detector.predict([multi_face])[0]
    boxes = faces.boxes
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    for box, points in zip(boxes, faces.keypoints):
        # Ear tragions may sit on the box's edge; allow a tenth of the box's size around it.
        margin = 0.1 * (box[2] - box[0])
        assert (points[:, 0] >= box[0] - margin).all() and (points[:, 0] <= box[2] + margin).all()
        assert (points[:, 1] >= box[1] - margin).all() and (points[:, 1] <= box[3] + margin).all()
        # Eyes above the nose tip, nose tip above the mouth (the people stand upright).
        right_eye, left_eye, nose, mouth = points[:4]
        assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_no_face_video_has_no_face_in_any_frame(models: Models, media) -> None:
    found: list[int] = []
    batch: list[np.ndarray] = []
    with av.open(str(media("no_face.mp4"))) as container:
        for frame in container.decode(video=0):
            batch.append(frame.to_ndarray(format="bgr24"))
            if len(batch) == 8:
                found += [len(d) for d in models.detector.predict(batch)]
                batch = []
    found += [len(d) for d in models.detector.predict(batch)]
    assert len(found) > 50
    assert sum(found) == 0


@pytest.mark.parametrize(
    ("width", "height", "min_face_px"),
    [(640, 360, 24), (960, 540, 24), (1000, 667, 24), (360, 640, 16), (4096, 4096, 24),
     (129, 97, 8), (640, 360, 200)],
)
def test_plan_tiles_cover_frame_at_finest_level(width: int, height: int, min_face_px: float):
    tiles = plan_tiles(width, height, min_face_px)
    coarsest = tiles[0]
    assert (coarsest.x, coarsest.y, coarsest.level) == (0, 0, 0)
    assert coarsest.side == max(width, height)
    assert [t for t in tiles if t.level == 0] == [coarsest]
    finest_level = max(t.level for t in tiles)
    covered = np.zeros((height, width), bool)
    for tile in tiles:
        assert tile.x >= 0 and tile.y >= 0
        if tile.level == finest_level:
            covered[tile.y : tile.y + tile.side, tile.x : tile.x + tile.side] = True
    assert covered.all()
    if finest_level > 0:
        # The finest tiles are small enough that a min_face_px face is a usable share of them,
        # and neighbouring tiles overlap, so a face on a border is whole in some tile.
        finest = [t for t in tiles if t.level == finest_level]
        assert min_face_px / finest[0].side >= 0.1
        for starts in ({t.x for t in finest}, {t.y for t in finest}):
            assert all(b - a < finest[0].side for a, b in pairwise(sorted(starts)))


@pytest.mark.parametrize(
    ("width", "height"), [(640, 360), (640, 480), (572, 562), (1000, 667), (1280, 720),
                          (1920, 1080), (3840, 2160)],
)
def test_level_sides_keep_every_step_within_the_ratio_and_need_no_more_tiles_than_even_steps(
    width: int, height: int
) -> None:
    """The chosen sides: each level at most LEVEL_RATIO smaller than the one above, down to
    the 24 px face's tile; and no more tiles than sides evenly spaced in scale (the plan
    before), fewer on the sizes where those land badly."""
    sides = level_sides(width, height, 24)
    chain = [max(width, height), *sides]
    assert sides[-1] == round(24 / face_detector.MIN_FACE_FRACTION)
    assert all(a / b <= face_detector.LEVEL_RATIO for a, b in pairwise(chain))
    span = max(width, height) / sides[-1]
    levels = math.ceil(math.log(span) / math.log(face_detector.LEVEL_RATIO))
    even = [round(max(width, height) / span ** (k / levels)) for k in range(1, levels + 1)]
    tiles = len(plan_tiles(width, height, 24)) - 1
    even_tiles = sum(math.prod(map(len, face_detector._level_positions(width, height, side)))
                     for side in even)
    assert tiles <= even_tiles
    if (width, height) in {(1000, 667), (1280, 720)}:
        assert tiles < even_tiles


def _face(x: float, y: float, size: float, score: float):
    box = np.array([x, y, x + size, y + size], np.float32)
    points = np.array([[x + size * fx, y + size * fy] for fx, fy in
                       [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.8), (0.05, 0.45),
                        (0.95, 0.45)]], np.float32)
    return box, np.float32(score), points


def test_weighted_nms_merges_overlapping_and_keeps_distant() -> None:
    a, b, c = _face(100, 100, 50, 0.9), _face(104, 102, 50, 0.6), _face(400, 200, 40, 0.8)
    boxes = np.stack([a[0], b[0], c[0]])
    scores = np.array([a[1], b[1], c[1]])
    kps = np.stack([a[2], b[2], c[2]])
    merged = weighted_nms(boxes, scores, kps, iou_threshold=0.3)
    assert len(merged) == 2
    order = np.argsort(merged.boxes[:, 0])
    near, far = merged.boxes[order[0]], merged.boxes[order[1]]
    # The merged box is the score-weighted mean of the two: 0.6 * a + 0.4 * b.
    np.testing.assert_allclose(near, 0.6 * a[0] + 0.4 * b[0], atol=1e-4)
    np.testing.assert_allclose(merged.keypoints[order[0]], 0.6 * a[2] + 0.4 * b[2], atol=1e-4)
    assert merged.scores[order[0]] == pytest.approx(0.9)
    np.testing.assert_allclose(far, c[0])
    assert merged.scores[order[1]] == pytest.approx(0.8)


def test_weighted_nms_of_nothing_is_empty() -> None:
    merged = weighted_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros((0, 6, 2), np.float32), 0.3)
    assert len(merged) == 0


SMALL_FACE_PX = 24  # the face's box width: exactly min_face_px


@pytest.fixture(scope="module")
def small_face_frames(portrait: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """640x360 grey frames, each with Grace Hopper's face ~24 px wide at a different place,
    and where the detector finds her face in the full-size portrait, mapped to each frame."""
    full = FaceDetector(min_face_px=200).predict([portrait])[0]
    assert len(full) == 1, "the full-size portrait must show one face"
    small = scaled_face(portrait, SMALL_FACE_PX)
    scale = small.shape[1] / portrait.shape[1]
    h, w = small.shape[:2]
    rng = np.random.default_rng(7)
    frames, expected = [], []
    for _ in range(16):
        x, y = int(rng.integers(0, 640 - w)), int(rng.integers(0, 360 - h))
        frames.append(paste(np.full((360, 640, 3), 128, np.uint8), small, x, y))
        expected.append(full.boxes[0] * scale + [x, y, x, y])
    return frames, expected


def test_small_face_found_with_fine_tiles(small_face_frames) -> None:
    frames, expected = small_face_frames
    detector = FaceDetector(min_face_px=24)
    for faces, box in zip(detector.predict(frames), expected):
        assert len(faces) == 1
        assert box_iou(faces.boxes[0], box) > 0.5
        assert 0.7 * SMALL_FACE_PX < faces.widths[0] < 1.5 * SMALL_FACE_PX


def test_small_face_missed_when_frame_seen_only_whole(small_face_frames) -> None:
    frames, _ = small_face_frames
    detector = FaceDetector(min_face_px=200)
    assert len(plan_tiles(640, 360, 200)) == 1
    assert all(len(faces) == 0 for faces in detector.predict(frames))


def test_gated_search_keeps_a_known_still_small_face_with_a_fraction_of_the_tiles(
    small_face_frames,
) -> None:
    frames, expected = small_face_frames
    tiles = plan_tiles(640, 360, 24)
    motion = MotionDetector(12, 24)
    assert motion.update(frames[0]) is None  # the first frame: everything is new
    still = motion.update(frames[0])
    assert still is not None and still.fraction == 0
    assert not changed_tiles(tiles, still).any()  # nothing changed
    assert not known_face_tiles(tiles, np.zeros((0, 4))).any()  # and no face known
    kept = [t for t, keep in zip(tiles, known_face_tiles(tiles, expected[0][None])) if keep]
    assert 0 < len(kept) <= 4 <= len(tiles) / 8
    detector = FaceDetector(min_face_px=24)
    (faces,) = detector.predict([frames[0]], [kept])
    assert len(faces) == 1 and box_iou(faces.boxes[0], expected[0]) > 0.5
    # The face moves far: it is searched where the picture changed, not where it was.
    far = next(i for i, box in enumerate(expected)
               if abs(box[0] - expected[0][0]) > 200 or abs(box[1] - expected[0][1]) > 150)
    moved = motion.update(frames[far])
    assert moved is not None and 0 < moved.fraction < 0.05
    chosen = changed_tiles(tiles, moved) | known_face_tiles(tiles, expected[0][None])
    changed = [t for t, keep in zip(tiles, chosen) if keep]
    assert len(changed) < len(tiles)  # both places changed, and the tiles overlap
    (faces,) = detector.predict([frames[far]], [changed])
    assert len(faces) == 1 and box_iou(faces.boxes[0], expected[far]) > 0.5


def test_known_face_is_searched_only_by_tiles_that_can_hold_it_whole(
    portrait: np.ndarray, models: Models,
) -> None:
    """A still face between two levels' sizes (about 58 px at 640x360: the live benchmark's
    portrait) is searched again by the coarser level's tile that holds it and by the finer
    tiles that share a face-sized rectangle with where it may have moved, not by every fine
    tile touching that place: those cut it at their inner border, so never give it back."""
    image = paste(np.full((360, 640, 3), 110, np.uint8), scaled_face(portrait, 58), 60, 80)
    detector = models.detector
    (found,) = detector.predict([image])
    assert len(found) == 1
    box = found.boxes[0]
    tiles = plan_tiles(640, 360, 24)
    chosen = known_face_tiles(tiles, box[None])
    kept = [t for t, keep in zip(tiles, chosen) if keep]
    grown = np.r_[box[:2] - (box[2:] - box[:2]) / 2, box[2:] + (box[2:] - box[:2]) / 2]
    touching = [t for t in tiles if t.level == max(u.level for u in kept)
                and t.x < grown[2] and t.x + t.side > grown[0]
                and t.y < grown[3] and t.y + t.side > grown[1]]
    assert len({t.level for t in kept}) == 2  # a face near two levels' sizes: both searched
    assert len(kept) < len(touching) / 2 + 1  # 2 of 12 fine tiles; before, all 12
    (again,) = detector.predict([image], [kept])
    assert len(again) == 1 and box_iou(again.boxes[0], box) > 0.9
    # What was dropped could not have given the face back: each alone finds nothing.
    for tile in (t for t in touching if t not in kept):
        (alone,) = detector.predict([image], [[tile]])
        assert len(alone) == 0


def test_pipeline_gated_follows_a_moving_small_face_and_finds_a_still_new_one_within_a_second(
    portrait: np.ndarray, models: Models,
) -> None:
    small = scaled_face(portrait, SMALL_FACE_PX)
    h, w = small.shape[:2]
    places = [(40 + 4 * i, 60 + 2 * i) for i in range(8)] + [(560 - w // 2, 300 - h)] * 8

    def frame(i: int, x: int, y: int, second: bool = False) -> Frame:
        image = paste(np.full((360, 640, 3), 128, np.uint8), small, x, y)
        return Frame(image, i, i * 0.2, "drift")

    pipeline = Pipeline(AnalysisConfig(full_scan_every_s=1.0), models)
    state = pipeline.start_source(5.0)
    found = [len(pipeline.analyse([frame(i, x, y)], state)[0]) for i, (x, y) in
             enumerate(places)]
    # Followed while it drifts and after it jumps (the picture changed there), and while it
    # stays still afterwards (a face seen lately is searched for again).
    assert found == [1] * 16

    # A face already in a still picture that was missed (here: pasted without a change the
    # gate sees, as a face that was turned away and turns slowly would be) is found at the
    # next full search, within full_scan_every_s.
    state = pipeline.start_source(5.0)
    empty = np.full((360, 640, 3), 128, np.uint8)
    with_face = paste(empty.copy(), small, 300, 200)
    assert len(pipeline.analyse([Frame(empty, 0, 0.0, "new")], state)[0]) == 0
    state.motion.update(with_face)  # the gate has seen the face: no change from here on
    counts = [len(pipeline.analyse([Frame(with_face, i, i * 0.2, "new")], state)[0])
              for i in range(1, 7)]
    assert counts[:4] == [0, 0, 0, 0] and counts[4:] == [1, 1]  # 1.0 s: the full search


def test_full_searches_fall_on_each_second_of_video_time_whatever_frame_a_run_starts_on(
    portrait: np.ndarray, models: Models,
) -> None:
    """Offline as live, the default searches every tile on the first analysed frame of each
    second of video time counted from 0 s, not from the first frame a run sees: a segment of
    a video (cluster/segments.py) that starts mid-second searches in full on its first frame
    (nothing before it to compare with) and from then on on one pass's frames."""
    small = scaled_face(portrait, SMALL_FACE_PX)

    def frame(i: int) -> Frame:  # 6 analysed frames a second, times rounded as video's are
        image = paste(np.full((360, 640, 3), 128, np.uint8), small, 40 + 4 * i, 60 + 2 * i)
        return Frame(image, i, round(i / 6, 4), "drift")

    # Every tile on each period's first frame (what still_tiles_every_s, below, relaxes).
    pipeline = Pipeline(AnalysisConfig(still_tiles_every_s=None), models)
    assert pipeline.config.full_scan_every_s == 1.0  # the default, offline too

    def searched_in_full(first: int, batch: int) -> list[int]:
        state = pipeline.start_source(6.0)
        indexes = list(range(first, 20))
        plans = []
        for start in range(0, len(indexes), batch):
            plans += pipeline._plans([frame(i) for i in indexes[start : start + batch]], state)
        return [i for i, plan in zip(indexes, plans) if plan is None]

    one_pass = searched_in_full(0, 1)
    assert one_pass == [0, 6, 12, 18]
    assert searched_in_full(0, 4) == one_pass  # batches change nothing
    assert searched_in_full(4, 8) == [4, 6, 12, 18]  # a segment from 0.67 s
    assert searched_in_full(6, 3) == [6, 12, 18]  # one from 1 s: one pass's frames alone


def test_periodic_search_adds_up_slow_change_and_skips_tiles_unchanged_since_searched(
    portrait: np.ndarray, models: Models, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A face that fades into a still picture, too slowly for any frame to differ from the
    one before by the motion threshold, is found by the periodic search on the frame that
    searching every tile finds it on: each tile is compared with the picture it was last
    searched on, so the change adds up. Once found and still, the periodic search looks only
    where the face is; every tile is searched again once per still_tiles_every_s."""
    empty = np.full((360, 640, 3), 128, np.uint8)
    with_face = paste(empty.copy(), scaled_face(portrait, 40), 300, 150)

    def frame(i: int) -> Frame:  # 5 fps; the face fades in over 6 s from frame 5
        alpha = float(np.clip((i - 5) / 30, 0, 1))
        return Frame(cv2.addWeighted(with_face, alpha, empty, 1 - alpha, 0), i, i / 5, "fade")

    frames = [frame(i) for i in range(60)]
    threshold = AnalysisConfig().motion_threshold
    assert all(np.abs(b.image.astype(int) - a.image).max() < threshold
               for a, b in pairwise(frames))  # no frame shows the change
    searched: list[int] = []
    candidates = models.detector.candidates
    full = len(plan_tiles(640, 360, 24))

    def counted(images, plans=None):  # gated: one frame a call, one or two calls a frame
        searched[-1] += sum(full if p is None else len(p) for p in plans or [None])
        return candidates(images, plans)

    monkeypatch.setattr(models.detector, "candidates", counted)
    found, tiles = {}, {}
    for still_every in (None, 10.0):
        pipeline = Pipeline(AnalysisConfig(still_tiles_every_s=still_every), models)
        state = pipeline.start_source(5.0)
        searched.clear()
        found[still_every] = []
        for f in frames:
            searched.append(0)  # no call: nothing searched (or the frame before's taken)
            found[still_every].append(len(pipeline.analyse([f], state)[0]))
        tiles[still_every] = list(searched)
    assert AnalysisConfig().still_tiles_every_s == 10.0  # the default
    first = found[None].index(1)
    assert 10 <= first < 35 and first % 5 == 0  # a periodic search's frame, as it faded in
    assert found[None][first:] == [1] * (60 - first)
    assert found[10.0] == found[None]  # the same frame, and kept from then on
    assert tiles[None][first + 5 :: 5] == [full] * len(tiles[None][first + 5 :: 5])
    # Faded in by frame 35: from then on each periodic search looks only where the face is.
    still = [n for i, n in enumerate(tiles[10.0]) if i > 35 and i % 5 == 0 and i != 50]
    assert len(still) == 3 and max(still) <= 4, still
    assert tiles[10.0][50] == full  # 10 s: every tile, the safety net


def test_a_still_face_in_a_still_picture_is_not_searched_again_until_something_changes(
    portrait: np.ndarray, models: Models, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where a frame's plan is the frame before's tiles and none of them changed since it
    was searched, searching again gives the same faces: they are taken over, and the
    detector does not run. It runs again where the picture changes (the face moves), and
    finds the face there."""
    empty = np.full((360, 640, 3), 128, np.uint8)
    face = scaled_face(portrait, 40)
    noise = np.random.default_rng(0)

    def noisy(x: int) -> np.ndarray:  # a camera's few grey levels of noise
        image = paste(empty.copy(), face, x, 150).astype(int)
        return np.clip(image + noise.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)

    images = [noisy(300) for _ in range(8)] + [noisy(330) for _ in range(4)]
    ran: list[bool] = []
    candidates = models.detector.candidates

    def counted(images, plans=None):
        ran[-1] = True
        return candidates(images, plans)

    monkeypatch.setattr(models.detector, "candidates", counted)
    pipeline = Pipeline(AnalysisConfig(), models)
    state = pipeline.start_source(10.0)
    boxes = []
    for i, image in enumerate(images):
        ran.append(False)
        (analysis,) = pipeline.analyse([Frame(image, i, i / 10, "still")], state)
        assert len(analysis) == 1
        boxes.append(analysis.faces.boxes[0])
    assert ran[:2] == [True, True]  # in full, then the face's own tiles
    assert not any(ran[2:8])  # the same tiles, unchanged since: taken over
    assert all(np.array_equal(box, boxes[1]) for box in boxes[2:8])
    assert ran[8]  # the face moved: searched again, and found where it went
    assert 25 < boxes[8][0] - boxes[1][0] < 35


def test_a_still_face_found_mid_batch_is_searched_for_on_the_next_frames(
    portrait: np.ndarray, models: Models,
) -> None:
    """Offline frames come in batches (batch_frames 8): a face that appears in a still
    picture mid-batch (found where the picture changed) and then keeps still is searched for
    again on the next frame, as on a live camera (one frame at a time), not lost until the
    next full search and never tracked."""
    small = scaled_face(portrait, SMALL_FACE_PX)
    empty = np.full((360, 640, 3), 128, np.uint8)
    with_face = paste(empty.copy(), small, 300, 200)
    frames = [Frame(with_face if i >= 12 else empty, i, i / 10, "still") for i in range(30)]
    for batch in (8, 1):
        pipeline = Pipeline(AnalysisConfig(batch_frames=batch), models)
        state = pipeline.start_source(10.0)
        found = []
        for start in range(0, len(frames), batch):
            found += [len(a) for a in pipeline.analyse(frames[start : start + batch], state)]
        assert found == [0] * 12 + [1] * 18, batch


def test_tiles_woken_by_a_change_wait_their_turn_and_are_not_forgotten(
    portrait: np.ndarray, models: Models,
) -> None:
    """Between full searches a tile woken by a change is searched at most once per
    ``motion_search_every_s`` (5 frames at 25 fps): a body that keeps moving costs a search
    per wait, not per frame, and a face that comes into a still picture just after its tiles
    were searched is found when their wait ends, not forgotten because the picture has been
    still since. A known face is searched for on every frame."""
    small = scaled_face(portrait, SMALL_FACE_PX)
    empty = np.full((360, 640, 3), 128, np.uint8)
    with_face = paste(empty.copy(), small, 300, 200)
    frames = [Frame(with_face if i >= 3 else empty, i, i / 25, "enter") for i in range(25)]

    def found(wait: float) -> list[int]:
        pipeline = Pipeline(AnalysisConfig(motion_search_every_s=wait), models)
        state = pipeline.start_source(25.0)
        return [len(pipeline.analyse([frame], state)[0]) for frame in frames]

    assert found(0) == [0] * 3 + [1] * 22  # on the frame it comes
    assert found(0.2) == [0] * 5 + [1] * 20  # when the wait since frame 0's search ends

    rng = np.random.default_rng(0)
    moving = []  # a noisy patch that changes on every frame, no face in it
    for i in range(25):
        image = empty.copy()
        image[100:260, 100:300] = rng.integers(0, 255, (160, 200, 3), np.uint8)
        moving.append(Frame(image, i, i / 25, "moving"))

    def searched(wait: float) -> list[int]:
        pipeline = Pipeline(AnalysisConfig(motion_search_every_s=wait), models)
        state = pipeline.start_source(25.0)
        plans = [pipeline._plans([frame], state)[0] for frame in moving]
        assert plans[0] is None  # the first frame: in full
        return [len(plan) for plan in plans[1:]]

    every_frame, waiting = searched(0), searched(0.2)
    assert min(every_frame) > 0
    assert [i + 1 for i, n in enumerate(waiting) if n] == [5, 10, 15, 20]
    assert waiting[4] == every_frame[4]  # each time, every tile the patch wakes
