"""The one data path: frames -> faces -> tracks -> aligned crops -> expression and age -> smoothing.

Nothing else knows the order of the stages. A batch of frames goes through the face detector in
calls of at most ``detector_batch_tiles`` tiles, so memory does not grow with the frames' size;
then the tracker follows the faces frame by frame (the age model needs to know whose face is
whose: a track's age is estimated once per ``age_every_s``), each face model takes the batch's
faces in one call, and smoothing runs frame by frame, in order, with state kept per source in
a ``SourceState``.

The purpose gate: a job whose purpose does not allow expression analysis
(``anonymous_statistics``) gets Models without an expression classifier: it is never loaded,
and its analyses carry zero-width expression arrays and no labels. Live cameras use the same
gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from operator import itemgetter

import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.models.age import AgeEstimator
from affectlens.models.alignment import align_faces
from affectlens.models.calibration import UNCALIBRATED_MIN_CONFIDENCE
from affectlens.models.expression import ExpressionClassifier
from affectlens.models.face_detector import (
    FaceDetector,
    Tile,
    body_reach,
    changed_tiles,
    grown,
    known_face_tiles,
)
from affectlens.models.motion import Changes, MotionDetector, SearchedPictures
from affectlens.models.runtime import OnnxModel, Opener
from affectlens.tracking.smoothing import ExpressionSmoother
from affectlens.tracking.tracker import UNTRACKED, FaceTracker
from affectlens.types import FaceAnalysis, FaceDetections, Frame, period_of


@dataclass(frozen=True)
class Models:
    detector: FaceDetector
    expression: ExpressionClassifier | None  # None: the purpose forbids expression analysis
    age: AgeEstimator

    @classmethod
    def load(cls, config: AnalysisConfig, opener: Opener = OnnxModel) -> Models:
        """The face models ``config`` asks for; ``opener`` runs each network (an OnnxModel
        here, or a runner that batches with other cameras: cluster/batching.py)."""
        return cls(
            FaceDetector(
                config.device, config.min_face_px, config.face_score_threshold,
                threads=config.threads, batch_tiles=config.detector_batch_tiles, opener=opener,
            ),
            ExpressionClassifier(config.expression_model, config.device, config.threads, opener,
                                 precision=config.precision)
            if config.expression_allowed else None,
            AgeEstimator(config.age_model, config.device, config.threads, opener,
                         precision=config.precision),
        )


@dataclass
class SourceState:
    """What one source carries from batch to batch: its tracker (None for a still image)."""

    tracker: FaceTracker | None
    smoother: ExpressionSmoother
    motion: MotionDetector | None = None  # None: every frame searched in full
    # faces of the newest gated frame: searched for again on the next, or taken over
    last_faces: FaceDetections | None = None
    # the newest planned frame's tiles (level, x, y; None: every tile), and whether its
    # faces are the frame before's: the same tiles as there, none changed since searched
    last_plan: frozenset[tuple[int, int, int]] | None = None
    reuse: bool = False
    # track id -> (timestamp, box) of each track's newest face, for lost_track_seconds: a
    # face the detector missed once is still searched for where it was
    known: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)
    # the period of video time (full_scan_every_s long, counted from 0 s) of the newest
    # periodic detector search, and (still_tiles_every_s long) of the newest search of every
    # tile
    full_scan_period: int | None = None
    every_tile_period: int | None = None
    # per detector level, the shrunk picture each tile was last searched on
    searched: SearchedPictures = field(default_factory=SearchedPictures)
    # analysed frames a tile woken by a change waits between searches (motion_search_every_s)
    motion_wait_frames: int = 1
    # per tile of the frame's full plan: changed on the newest gated frame only where the
    # frame before's faces explain it (Pipeline._unexplained); None after a periodic plan
    deferred: np.ndarray | None = None
    # per tile of the frame's full plan: woken by a change and not searched since, and
    # analysed frames since it was last searched (None until a full search sets them up)
    woken: np.ndarray | None = None
    frames_since_search: np.ndarray | None = None
    # track id -> (period of age_every_s, timestamp last seen, age) of each track's newest
    # age estimate, carried on the track's other frames in that period
    ages: dict[int, tuple[int, float, float]] = field(default_factory=dict)


def _key(tiles: Sequence[Tile]) -> frozenset[tuple[int, int, int]]:
    """What tells one plan's tiles from another's: each tile's level and corner."""
    return frozenset((t.level, t.x, t.y) for t in tiles)


def _remember_search(state: SourceState, searched: list[Tile] | None, tiles: list[Tile],
                     width: int) -> None:
    """``searched`` (None: every tile of ``tiles``, the full plan) were searched on the
    source's newest picture, a frame ``width`` pixels wide."""
    assert state.motion is not None and state.motion.last is not None
    grey = state.motion.last
    state.searched.remember(grey, grey.shape[1] / width, searched, {t.level for t in tiles})


class Pipeline:
    def __init__(self, config: AnalysisConfig | None = None, models: Models | None = None) -> None:
        self.config = config or AnalysisConfig()
        models = models or Models.load(self.config)
        if not self.config.expression_allowed:
            models = replace(models, expression=None)  # lent models: never call it either
        self.models = models

    @property
    def min_confidence(self) -> float:
        """The configured threshold, else the model's calibrated one, else 0.4."""
        if self.config.min_confidence is not None:
            return self.config.min_confidence
        expression = self.models.expression
        return expression.calibration.threshold if expression else UNCALIBRATED_MIN_CONFIDENCE

    def start_source(self, analysis_fps: float | None) -> SourceState:
        """State for a new source; analysis_fps None means a still image (no tracking)."""
        cfg = self.config
        tracker = (
            FaceTracker(analysis_fps, cfg.lost_track_seconds) if analysis_fps else None
        )
        smoother = ExpressionSmoother(cfg.smoothing_tau_s, cfg.switch_margin, self.min_confidence,
                                      forget_after_s=cfg.lost_track_seconds + 1.0)
        motion = (MotionDetector(cfg.motion_threshold, cfg.min_face_px)
                  if tracker is not None and cfg.full_scan_every_s is not None else None)
        wait = max(1, round(cfg.motion_search_every_s * analysis_fps)) if analysis_fps else 1
        return SourceState(tracker, smoother, motion, motion_wait_frames=wait)

    def analyse(self, frames: Sequence[Frame], state: SourceState) -> list[FaceAnalysis]:
        """FaceAnalysis for each frame, in order."""
        detections = self.detect(frames, state)
        ids = self.follow(frames, detections, state)
        probs = self.expressions(frames, detections)
        ages = self.ages(frames, detections, ids, state)
        return self.smooth(frames, detections, ids, probs, ages, state)

    def detect(self, frames: Sequence[Frame], state: SourceState) -> list[FaceDetections]:
        """Each frame's faces, searched where ``_plans`` says (the first stage of
        ``analyse``; apart for benchmarks/pipeline_speed.py). Searched in full, a batch's
        frames go through the detector together; gated, one after the other, each planned
        with the faces of the frame before it, as on a live camera: a face found on one frame
        (by a full search, or where the picture changed) is searched for on the next even
        before the tracker confirms it, whatever the batch size. Where a frame's plan is the
        frame before's tiles and none of them changed since it was searched, the frame
        before's faces are taken over without running the detector (``_plans`` sets
        ``state.reuse``): the same pictures give the same faces."""
        detector = self.models.detector
        if state.motion is None or self.config.full_scan_every_s is None:
            return detector.predict([f.image for f in frames])
        detections = []
        for frame in frames:  # gated: motion, so a tracker (start_source)
            (plan,) = self._plans([frame], state)
            if state.reuse and state.last_faces is not None:
                faces = state.last_faces  # what searching the same pictures again gives
            else:
                (found,) = detector.candidates([frame.image], [plan])
                faces = detector.merge(found, frame.image.shape)
                deferred = self._deferred_now(faces, frame, state)
                if deferred:  # a face of the frame before not found again: search them too
                    (more,) = detector.candidates([frame.image], [deferred])
                    faces = detector.merge(found + more, frame.image.shape)
            detections.append(faces)
            state.last_faces = faces
        return detections

    def _deferred_now(self, faces: FaceDetections, frame: Frame,
                      state: SourceState) -> list[Tile]:
        """The tiles woken only by changes the frame before's faces explained
        (``_unexplained``) that are due a search now, because one of those faces was not
        found again near where it was (it moved farther, turned or left: the change is not
        its own); they are then searched, and the rest of them wait as woken tiles do. Empty
        when every such face is found again."""
        if state.deferred is None or not state.deferred.any() or state.last_faces is None:
            return []
        before, now = grown(state.last_faces.boxes), faces.boxes
        centres = np.stack([now[:, [0, 2]].mean(1), now[:, [1, 3]].mean(1)], axis=1)
        if all(((centres >= box[:2]) & (centres <= box[2:])).all(1).any() for box in before):
            return []
        assert state.woken is not None and state.frames_since_search is not None
        due = state.deferred & (state.frames_since_search >= state.motion_wait_frames)
        state.woken |= state.deferred & ~due
        state.frames_since_search[due] = 0
        state.deferred = None
        tiles = self.models.detector.tiles(*frame.size)
        chosen = [t for t, keep in zip(tiles, due) if keep]
        if chosen:
            _remember_search(state, chosen, tiles, frame.size[0])
            state.last_plan = (state.last_plan or frozenset()) | _key(chosen)
        return chosen

    def follow(self, frames: Sequence[Frame], detections: Sequence[FaceDetections],
               state: SourceState) -> list[np.ndarray]:
        """Each frame's track ids (UNTRACKED for a face not on a confirmed track; 1..n on a
        still image), frame by frame; the faces' newest boxes are kept for the gated search."""
        tracker, every_id = state.tracker, []
        for frame, faces in zip(frames, detections):
            ids = np.arange(1, len(faces) + 1) if tracker is None else tracker.update(faces)
            if state.motion is not None:
                for track_id, box in zip(ids, faces.boxes):
                    if track_id != UNTRACKED:
                        state.known[int(track_id)] = (frame.timestamp, box)
            every_id.append(ids)
        return every_id

    def expressions(self, frames: Sequence[Frame],
                    detections: Sequence[FaceDetections]) -> np.ndarray:
        """Expression probabilities of every face of ``frames``, in order (zero columns where
        the purpose forbids expression analysis)."""
        expression = self.models.expression
        if expression is None:
            return np.zeros((sum(len(d) for d in detections), 0), np.float32)
        crops = [align_faces(f.image, d.keypoints, expression.template)
                 for f, d in zip(frames, detections) if len(d)]
        if not crops:
            return np.zeros((0, len(expression.labels)), np.float32)
        return expression.predict(np.concatenate(crops))

    def ages(self, frames: Sequence[Frame], detections: Sequence[FaceDetections],
             ids: Sequence[np.ndarray], state: SourceState) -> np.ndarray:
        """The age of every face of ``frames``, in order: estimated by the age model for a
        face on its track's first frame in each period of ``age_every_s`` of video time (and
        for a face on no track), carried from that estimate on the track's other frames."""
        every = self.config.age_every_s if state.tracker is not None else None
        # per face, in order: (track or None, period, timestamp, estimated now?)
        plan: list[tuple[int | None, int, float, bool]] = []
        due: list[tuple[int, int]] = []  # (frame, face) the model estimates
        planned = {track: period for track, (period, _, _) in state.ages.items()}
        for n, (frame, frame_ids) in enumerate(zip(frames, ids)):
            period = period_of(frame.timestamp, every) if every is not None else 0
            for i, track_id in enumerate(frame_ids):
                track = None if every is None or track_id == UNTRACKED else int(track_id)
                fresh = track is None or planned.get(track) != period
                if fresh:
                    due.append((n, i))
                    if track is not None:
                        planned[track] = period
                plan.append((track, period, frame.timestamp, fresh))
        estimates = iter(self._estimate_ages(frames, detections, due))
        ages = np.zeros(len(plan), np.float32)
        for k, (track, period, timestamp, fresh) in enumerate(plan):
            if fresh:
                ages[k] = next(estimates)
            else:
                assert track is not None  # a face on no track is always estimated
                ages[k] = state.ages[track][2]
            if track is not None:
                state.ages[track] = (period, timestamp, float(ages[k]))
        if frames and every is not None:  # forget tracks long gone
            horizon = frames[-1].timestamp - self.config.lost_track_seconds - every
            state.ages = {t: v for t, v in state.ages.items() if v[1] >= horizon}
        return ages

    def _estimate_ages(self, frames: Sequence[Frame], detections: Sequence[FaceDetections],
                       due: list[tuple[int, int]]) -> np.ndarray:
        """The age model's estimates of the ``due`` (frame, face) pairs, in one call."""
        age = self.models.age
        if not due:
            return np.zeros(0, np.float32)
        crops = [align_faces(frames[n].image, detections[n].keypoints[[i for _, i in faces]],
                             age.template)
                 for n, faces in groupby(due, key=itemgetter(0))]  # due is in frame order
        return age.predict(np.concatenate(crops))

    def smooth(self, frames: Sequence[Frame], detections: Sequence[FaceDetections],
               ids: Sequence[np.ndarray], probs: np.ndarray, ages: np.ndarray,
               state: SourceState) -> list[FaceAnalysis]:
        """The last stage of ``analyse``: per-track smoothing and labels, frame by frame, from
        the frames' faces, track ids, expression probabilities and ages (all faces in order)."""
        results, start = [], 0
        for frame, faces, frame_ids in zip(frames, detections, ids):
            stop = start + len(faces)
            results.append(self._smooth(frame, faces, frame_ids, probs[start:stop],
                                        ages[start:stop], state))
            start = stop
        return results

    def _plans(self, frames: Sequence[Frame], state: SourceState) -> list[list[Tile] | None]:
        """Per frame: None (search everywhere) or the detector tiles to search. On the first
        analysed frame of each period of ``full_scan_every_s`` of video time, counted from the
        video's start, every tile whose picture changed since it was last searched
        (``_periodic_plan``; so a still face newly in view is found within about that time,
        and a slow change adds up), and every tile once per ``still_tiles_every_s``; in
        between only where the picture changed since the frame before or a face was lately
        (``_gated_plan``). Periods count from the video's start so that a video analysed in
        segments searches every tile on the frames one pass does (cluster/segments.py). A
        source's first frame, or one of a new size, is searched in full too (no picture
        before it to compare with). The frames use the faces found before them: ``detect``
        plans one frame at a time."""
        motion, every = state.motion, self.config.full_scan_every_s
        if motion is None or every is None:
            return [None] * len(frames)
        if frames:
            horizon = frames[0].timestamp - self.config.lost_track_seconds
            state.known = {k: v for k, v in state.known.items() if v[0] >= horizon}
        boxes = [box[None] for _, box in state.known.values()]
        if state.last_faces is not None:
            boxes.append(state.last_faces.boxes)
        known = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32)
        plans: list[list[Tile] | None] = []
        for frame in frames:
            changes = motion.update(frame.image)
            period = period_of(frame.timestamp, every)
            height, width = frame.image.shape[:2]
            tiles = self.models.detector.tiles(width, height)
            plan: list[Tile] | None
            if changes is None or period != state.full_scan_period:
                state.full_scan_period = period
                plan = self._periodic_plan(tiles, frame, known, state, changes is None)
                state.woken = np.zeros(len(tiles), bool)
                state.frames_since_search = np.zeros(len(tiles), np.int64)
                state.deferred = None
            else:
                plan = self._gated_plan(tiles, changes, self._unexplained(changes, state),
                                        known, state)
            key = None if plan is None else _key(plan)
            state.reuse = bool(plan) and key == state.last_plan and not (
                self._changed_since_search(plan or [], width, state).any())
            state.last_plan = key
            if not state.reuse:
                _remember_search(state, plan, tiles, width)
            plans.append(plan)
        return plans

    @staticmethod
    def _changed_since_search(tiles: list[Tile], width: int, state: SourceState) -> np.ndarray:
        """Per tile: did its picture change since it was last searched (``changed_tiles``
        against the picture of that search: a slow change adds up)? True where nothing is
        remembered for its level."""
        assert state.motion is not None and state.motion.last is not None
        since = state.searched.changes(state.motion.last, width, state.motion)
        levels = np.array([t.level for t in tiles])
        changed = np.ones(len(tiles), bool)
        for level in np.unique(levels):
            here = np.flatnonzero(levels == level)
            if level in since:
                changed[here] = changed_tiles([tiles[i] for i in here], since[level])
        return changed

    def _periodic_plan(self, tiles: list[Tile], frame: Frame, known: np.ndarray,
                       state: SourceState, new_picture: bool) -> list[Tile] | None:
        """A period's first frame: every tile (None) on a source's first frame, one of a new
        size, and the first of each period of ``still_tiles_every_s``; otherwise the tiles
        whose picture changed since their last search, those woken and not searched yet, and
        those of the faces known."""
        every = self.config.still_tiles_every_s
        period = None if every is None else period_of(frame.timestamp, every)
        if new_picture or period is None or period != state.every_tile_period:
            state.every_tile_period = period
            return None
        chosen = known_face_tiles(tiles, known) | self._changed_since_search(
            tiles, frame.image.shape[1], state)
        if state.woken is not None and len(state.woken) == len(tiles):
            chosen |= state.woken
        return [t for t, keep in zip(tiles, chosen) if keep]

    @staticmethod
    def _unexplained(changes: Changes, state: SourceState) -> Changes:
        """The changes since the frame before less those a face found on it explains: within
        its person's reach (``body_reach``, wherever in the box grown by
        ``KNOWN_FACE_MARGIN`` that the tiles holding it search the face went:
        ``known_face_tiles``), a person who moves, turns or speaks changes the picture, and
        that woke every fine tile over the body on every frame (docs/speed.md). What the
        explanation costs: a new face inside that reach is found by the next period's search
        of the tiles changed since they were searched (``_periodic_plan``: within
        ``full_scan_every_s``), not on the next frame. If the face itself is not found again
        near where it was, the tiles are searched after all (``_deferred_now``)."""
        faces = state.last_faces
        if faces is None or not len(faces):
            return changes
        return changes.outside(body_reach(faces.boxes))

    @staticmethod
    def _gated_plan(tiles: list[Tile], changes: Changes, unexplained: Changes,
                    known: np.ndarray, state: SourceState) -> list[Tile]:
        """Between full searches: the tiles that hold a face seen lately, and those woken by a
        change (now or since their last search) whose wait (``motion_wait_frames``) is over.
        Why wait: a body that moves wakes every fine tile around it on every frame, and a
        face newly in it needs finding within a fraction of a second, not on every frame.
        Only ``unexplained`` changes wake tiles; those woken by ``changes`` alone are kept in
        ``state.deferred`` for ``detect`` (``_deferred_now``)."""
        assert state.woken is not None and state.frames_since_search is not None
        state.frames_since_search += 1
        woken = changed_tiles(tiles, unexplained)
        state.woken |= woken
        chosen = known_face_tiles(tiles, known) | (
            state.woken & (state.frames_since_search >= state.motion_wait_frames))
        state.woken &= ~chosen
        state.frames_since_search[chosen] = 0
        state.deferred = changed_tiles(tiles, changes) & ~woken & ~chosen
        return [t for t, keep in zip(tiles, chosen) if keep]

    @staticmethod
    def _smooth(
        frame: Frame, faces: FaceDetections, ids: np.ndarray, probs: np.ndarray,
        ages: np.ndarray, state: SourceState,
    ) -> FaceAnalysis:
        smoothed = probs.copy()
        labels: list[str] = []
        if probs.shape[1] == 0:  # no expression model: no smoothing, no labels
            return FaceAnalysis(frame.index, frame.timestamp, faces, ids, probs, smoothed, (), ages)
        for i, track_id in enumerate(ids):
            if track_id == UNTRACKED:
                labels.append(state.smoother.label_once(probs[i]))
            else:
                smoothed[i], label = state.smoother.update(int(track_id), probs[i], frame.timestamp)
                labels.append(label)
        return FaceAnalysis(
            frame.index, frame.timestamp, faces, ids, probs, smoothed, tuple(labels), ages
        )
