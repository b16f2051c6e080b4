"""The body path: frames -> pose -> person tracks -> fall rule -> per-frame people and events.

It sits beside the face pipeline (pipeline.py) rather than inside it, so a camera or job that
does not watch for falls never loads the pose model, and the face path is unchanged. The
engine (affectlens.engine) runs it for offline ``analyze`` and live cameras alike; state lives
in one ``PeopleState`` per source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import from_coco, posture
from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import FallEvent, FallRule
from affectlens.models.motion import MotionDetector
from affectlens.models.pose import (
    KEYPOINTS,
    REGION_TURNS,
    PersonDetections,
    PoseEstimator,
    upright_turn,
)
from affectlens.models.pose_landmarks import PoseLandmarksName, pose_estimator
from affectlens.models.runtime import Device
from affectlens.tracking.persons import PersonTracker
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import Frame, period_of

PERSON_COLUMNS = [
    "source", "frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "pose_score", "state",
    "torso_angle", *[f"{name}_{axis}" for name in KEYPOINTS for axis in ("x", "y", "score")],
]


@dataclass(frozen=True)
class PeopleAnalysis:
    """The people of one frame (row i = person i) and the fall events this frame changed."""

    frame_index: int
    timestamp: float
    people: PersonDetections
    track_ids: np.ndarray
    states: tuple[str, ...]
    events: tuple[FallEvent, ...]
    unseen: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # FallRule's

    def blur_boxes(self) -> np.ndarray:
        """Every region a picture of this frame must blur besides detected faces: the heads
        the pose model sees, and where people no detector sees any more were last seen."""
        return np.concatenate([head_boxes(self.people).reshape(-1, 4), self.unseen])


MAX_SECOND_LOOKS = 2  # pose passes a frame for people held down and unseen
SecondLook = Callable[[Frame, "PeopleState", np.ndarray], tuple[PersonDetections, np.ndarray]]


@dataclass
class PeopleState:
    tracker: PersonTracker | None  # None for a still image: no time, no falls
    rule: FallRule
    look_turns: dict[int, int] = field(default_factory=dict)  # track id -> REGION_TURNS index
    turn_from_torso: bool = False  # the second look's first turn from the last seen torso
    # Still pictures (PoseGate): the shrunk frame the pose model last ran on, its people,
    # and the period of PoseGate.every_s that run was in.
    reference: np.ndarray | None = None
    reference_people: PersonDetections | None = None
    period: int | None = None


@dataclass(frozen=True)
class PoseGate:
    """When the pose model need not run: on a frame in which nothing changed (no part of the
    picture, shrunk as motion.py shrinks it, moved by more than the motion threshold) since
    the frame it last ran on, within the same period of ``every_s`` of video time (counted
    from the video's start, as the face search's full_scan_every_s is, so segments of a video
    decide as one pass does). The people of that run are used again: the same picture gives
    the same joints, and the rule sees a person who did not move. A care-home camera's
    picture is mostly still; a fall is not."""

    every_s: float
    motion: MotionDetector  # its shrinking and threshold only: the reference is per source


class PeoplePipeline:
    """analyse(frames, state) -> one PeopleAnalysis per frame, in order."""

    def __init__(self, settings: FallSettings | None = None, device: Device = "cpu",
                 threads: int = 0, estimator: PoseEstimator | None = None,
                 classifier: FallClassifier | None = None,
                 landmarks: PoseLandmarksName = "none", gate: PoseGate | None = None) -> None:
        """``gate``: when the pose model may be skipped on a still picture; None, it runs
        on every frame (the reference)."""
        self.settings = settings or FallSettings()
        self.estimator = estimator or pose_estimator(landmarks, device, threads)
        self.classifier = classifier or FallClassifier.load()
        self.gate = gate

    def start_source(self, analysis_fps: float | None,
                     settings: FallSettings | None = None) -> PeopleState:
        tracker = PersonTracker(analysis_fps) if analysis_fps else None
        return PeopleState(tracker, FallRule(settings or self.settings, self.classifier),
                           turn_from_torso=self.estimator.turn_from_torso)

    def apply(self, state: PeopleState, settings: FallSettings) -> None:
        """New thresholds and zones for a running source (issue 14): the rule keeps the
        people it holds, their states and clocks (a long lie under way goes on counting).
        FallRule reads its settings at every frame."""
        self.settings = settings
        state.rule.settings = settings

    def analyse(self, frames: Sequence[Frame], state: PeopleState) -> list[PeopleAnalysis]:
        return [self._one(frame, people, state, self._second_look)
                for frame, people in zip(frames, self._people(frames, state))]

    def _people(self, frames: Sequence[Frame], state: PeopleState) -> list[PersonDetections]:
        """Each frame's people from the pose model, which runs (in one call) only on the
        frames the gate says are due; the others take the people of the last frame it ran
        on."""
        gate = self.gate
        if gate is None or state.tracker is None:  # no gate, or a still image: always
            return self.estimator.predict([f.image for f in frames])
        # Decided frame by frame against the last picture run (in this call or before);
        # the state takes the last run's picture and people once the model has given them.
        reference, period, earlier = state.reference, state.period, state.reference_people
        run: list[Frame] = []
        latest: list[int] = []  # per frame: the last of ``run`` up to it (-1: none yet)
        for frame in frames:
            grey, now = gate.motion.shrunk(frame.image), period_of(frame.timestamp, gate.every_s)
            if now != period or gate.motion.differs(grey, reference):
                reference, period = grey, now
                run.append(frame)
            latest.append(len(run) - 1)
        found = self.estimator.predict([f.image for f in run]) if run else []
        if found:
            state.reference, state.period, state.reference_people = reference, period, found[-1]
        # A frame before the first run here is one the gate let pass: ``earlier`` is set.
        return [found[i] if i >= 0 else earlier for i in latest]  # type: ignore[misc]

    def _second_look(self, frame: Frame, state: PeopleState, ids: np.ndarray
                     ) -> tuple[PersonDetections, np.ndarray]:
        """People the rule holds as falling or down whom no detection of this frame matched,
        looked for again where they were last seen (PoseEstimator.predict_region)."""
        found, found_ids = [], []
        score = state.rule.settings.second_look_score
        if score <= 0:
            return PersonDetections.empty(), np.zeros(0, np.int64)
        down = state.rule.down_boxes()
        if len(state.look_turns) > len(down):  # forget people no longer held down
            state.look_turns = {t: turn for t, turn in state.look_turns.items() if t in down}
        missing = [(t, box) for t, box in down.items() if t not in ids]
        # Bounded: at most MAX_SECOND_LOOKS a frame, the newest tracks first (the rule holds up
        # to MAX_HELD people on the floor unseen, with no time limit: issue 14).
        for track_id, box in missing[::-1][:MAX_SECOND_LOOKS]:
            # One pose pass a frame per person: the turn that last found them, else the next.
            turn = state.look_turns.get(track_id, 0)
            person = self.estimator.predict_region(frame.image, box, score, REGION_TURNS[turn])
            if len(person):
                found.append(person)
                found_ids.append(track_id)
            else:
                state.look_turns[track_id] = (turn + 1) % len(REGION_TURNS)
        return _joined(found), np.array(found_ids, np.int64)

    def finish(self, state: PeopleState) -> list[FallEvent]:
        """Close open events (end of a video or of a camera's run)."""
        return state.rule.finish()

    @staticmethod
    def _one(frame: Frame, people: PersonDetections, state: PeopleState,
             second_look: SecondLook | None = None) -> PeopleAnalysis:
        if state.tracker is None:
            ids = np.arange(1, len(people) + 1)
            return PeopleAnalysis(frame.index, frame.timestamp, people, ids,
                                  ("",) * len(people), ())
        ids = state.tracker.update(people)
        more, more_ids = (second_look(frame, state, ids) if second_look is not None
                          else (PersonDetections.empty(), np.zeros(0, np.int64)))
        # The held person's own track id: the crop said who it is.
        if len(more):
            people, ids = _joined([people, more]), np.concatenate([ids, more_ids])
        weak = np.arange(len(ids)) >= len(ids) - len(more)
        events = state.rule.update(frame.timestamp, ids, from_coco(people.keypoints), weak)
        if state.turn_from_torso:
            _remember_turns(state, ids, people)
        states = state.rule.states()
        labels = tuple(states.get(int(t)) or "" if t != UNTRACKED else "" for t in ids)
        # Found only by the second look, at a low score: their head keypoints may be too weak
        # to box, so the whole body is blurred, as for a person held unseen, and all of where
        # the rule remembers them lying.
        remembered = state.rule.down_boxes()
        regions = np.concatenate([state.rule.unseen_regions(), _grown(more.boxes), np.array(
            [remembered[t] for t in more_ids.tolist() if t in remembered]).reshape(-1, 4)])
        return PeopleAnalysis(frame.index, frame.timestamp, people, ids, labels, tuple(events),
                              regions)


def _remember_turns(state: PeopleState, ids: np.ndarray, people: PersonDetections) -> None:
    """For each person held down and seen now, the turn their torso says sets them upright:
    the first crop a second look takes of them (cycling from 'as it is' looked the wrong way
    round first, and a landmark model finds a person upside down as readily as upright)."""
    down = state.rule.down_boxes()
    for track_id, keypoints in zip(ids.tolist(), people.keypoints):
        turn = upright_turn(keypoints) if track_id in down else None
        if turn is not None:
            state.look_turns[track_id] = turn


def person_rows(source: str, analysis: PeopleAnalysis) -> list[dict[str, Any]]:
    """One row per person of one frame, in PERSON_COLUMNS order."""
    rows = []
    people = analysis.people
    for i in range(len(people)):
        track = int(analysis.track_ids[i])
        box = people.boxes[i]
        row: dict[str, Any] = {
            "source": source, "frame": analysis.frame_index,
            "time_s": round(analysis.timestamp, 4),
            "track_id": None if track == UNTRACKED else track,
            "x1": float(box[0]), "y1": float(box[1]), "x2": float(box[2]), "y2": float(box[3]),
            "pose_score": float(people.scores[i]), "state": analysis.states[i] or None,
            "torso_angle": posture(from_coco(people.keypoints[i]).astype(np.float64)).torso_angle,
        }
        for k, name in enumerate(KEYPOINTS):
            x, y, score = people.keypoints[i, k].tolist()
            row |= {f"{name}_x": x, f"{name}_y": y, f"{name}_score": score}
        rows.append(row)
    return rows


def _joined(parts: Sequence[PersonDetections]) -> PersonDetections:
    """One PersonDetections of several, rows in order."""
    if not parts:
        return PersonDetections.empty()
    return PersonDetections(*(np.concatenate([getattr(p, k) for p in parts])
                              for k in ("boxes", "scores", "keypoints")))


def _grown(boxes: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """Boxes grown by ``margin`` of their larger side (as fall_features.body_region)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    grow = margin * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes + np.hstack([-grow, -grow, grow, grow])


def head_boxes(people: PersonDetections, margin: float = 0.3) -> np.ndarray:
    """(N, 4) boxes around each person's head from the nose, eyes and ears (score >= 0.1).

    Why: a face detector misses faces lying down or in profile, so pixels of a fall that leave
    the process (a snapshot) blur these too. The box is sized from the head keypoints' spread
    or, with fewer than two seen, from the shoulder width; people with no head keypoint seen
    get none.
    """
    boxes = []
    for kps in people.keypoints:
        head = kps[:5][kps[:5, 2] >= 0.1, :2]
        if not len(head):
            continue
        shoulders = kps[5:7][kps[5:7, 2] >= 0.1, :2]
        size = float(np.ptp(head, axis=0).max()) if len(head) >= 2 else 0.0
        if len(shoulders) == 2:
            size = max(size, float(np.hypot(*(shoulders[0] - shoulders[1]))) * 0.5)
        size = max(size, 12.0) * (1 + margin)
        cx, cy = head.mean(axis=0)
        boxes.append([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    return np.array(boxes, np.float32).reshape(-1, 4)
