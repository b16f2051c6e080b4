"""Fall data readers and sequence-level evaluation of the fall rule.

Readers: MD4FD's URFD_normalized.json (pose sequences) and URFD's per-frame label CSVs.
Evaluation is per sequence, never per frame, and cross-validation keeps every sequence (and
every resampled copy of it) on one side of each split.
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.metrics import bootstrap_interval
from affectlens.events.event import Event
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import posture, reference_scale, window_features
from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import FallRule
from affectlens.people import PeoplePipeline, PeopleState
from affectlens.sources import open_media
from affectlens.types import Frame
from affectlens.vocabulary import EventKind

# MD4FD's sequences are URFD's 640x480 RGB camera at 30 frames a second, normalised to [0, 1].
MD4FD_SIZE = (640.0, 480.0)
MD4FD_FPS = 30.0
MD4FD_FILE = "URFD_normalized.json"
URFD_CSVS = ("urfd_features/urfall-cam0-falls.csv", "urfd_features/urfall-cam0-adls.csv")


@dataclass(frozen=True)
class PoseSequence:
    """One labelled sequence: bodies (T, 11, 3) x, y pixels and score, FALL_JOINTS order."""

    name: str
    label: int  # 1 fall, 0 not
    times: np.ndarray
    bodies: np.ndarray


@dataclass(frozen=True)
class LabelledSequence:
    """A URFD sequence from its CSV: per-frame labels -1 not lying, 0 falling, 1 lying."""

    name: str
    label: int
    frames: np.ndarray
    frame_labels: np.ndarray


def read_md4fd(path: Path, size: tuple[float, float] = MD4FD_SIZE, fps: float = MD4FD_FPS
               ) -> list[PoseSequence]:
    """MD4FD JSON: a list of samples, each T frames of 23 numbers then the label.

    Coordinates are fractions of the frame: ``size`` (width, height) turns them back into
    pixels, so angles are true for other cameras; ``fps`` gives speeds in real seconds.
    """
    try:
        samples = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(samples, list) or not samples:
        raise InputError(f"{path}: expected a non-empty JSON list of samples (frames, then "
                         f"a 0/1 label), found {_describe(samples)}")
    out = []
    for i, sample in enumerate(samples):
        if not isinstance(sample, list) or len(sample) < 3 or sample[-1] not in (0, 1):
            raise InputError(f"{path}: sample {i} is not frames followed by a 0/1 label")
        frames = np.asarray(sample[:-1], np.float64)
        if frames.ndim != 2 or frames.shape[1] < 22:
            raise InputError(f"{path}: sample {i} has frames of shape {frames.shape}, not (T, 23)")
        xy = frames[:, :22].reshape(len(frames), 11, 2) * np.asarray(size)
        bodies = np.concatenate([xy, np.ones((len(frames), 11, 1))], axis=2)
        out.append(PoseSequence(f"md4fd-{i:03d}", int(sample[-1]),
                                np.arange(len(frames)) / fps, bodies))
    return out


def _describe(value: object) -> str:
    if isinstance(value, list):
        return "an empty list"
    names = {dict: "an object", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(type(value), "a number")


def read_urfd_csv(path: Path) -> list[LabelledSequence]:
    """URFD's feature CSV (sequence, frame, label, 8 depth features); no header."""
    rows: dict[str, list[tuple[int, int]]] = {}
    try:
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.reader(handle), 1):
                if not row:
                    continue
                try:
                    rows.setdefault(row[0], []).append((int(row[1]), int(row[2])))
                except (IndexError, ValueError) as exc:
                    raise InputError(f"{path}:{line}: not sequence,frame,label,...") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    out = []
    for name, items in rows.items():
        items.sort()
        frames = np.array([f for f, _ in items])
        labels = np.array([lab for _, lab in items])
        out.append(LabelledSequence(name, int(name.startswith("fall")), frames, labels))
    return out


def resampled(seq: PoseSequence, step: int) -> PoseSequence:
    """Every ``step``-th frame: the same sequence as a slower camera would see it."""
    return PoseSequence(seq.name, seq.label, seq.times[::step], seq.bodies[::step])


def sequence_features(seq: PoseSequence) -> np.ndarray:
    """FEATURES of the whole sequence; the scale comes from its first third."""
    postures = [posture(b) for b in seq.bodies]
    scale = reference_scale(postures[: max(3, len(postures) // 3)])
    return window_features(seq.times, postures, scale)


def training_set(sequences: Iterable[PoseSequence], steps: Iterable[int] = (1, 2, 3)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and a group (sequence) index per row; 30, 15 and 10 fps copies."""
    x, y, groups = [], [], []
    for g, seq in enumerate(sequences):
        for step in steps:
            x.append(sequence_features(resampled(seq, step)))
            y.append(seq.label)
            groups.append(g)
    return np.array(x), np.array(y), np.array(groups)


def recordings(sequences: list[PoseSequence]) -> np.ndarray:
    """A recording number per sequence: sequences sharing any frame are one recording.

    MD4FD's 201 samples are overlapping 90-frame windows (mostly 15 frames apart) of 46
    recordings; splitting windows of one recording between training and test would leak.
    """
    parent = list(range(len(sequences)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[bytes, int] = {}
    for i, seq in enumerate(sequences):
        for frame in seq.bodies[:, :, :2]:
            key = np.round(frame, 1).tobytes()
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    roots = [root(i) for i in range(len(sequences))]
    numbering = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return np.array([numbering[r] for r in roots])


def sequence_folds(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int = 0
                   ) -> np.ndarray:
    """A fold number per sequence; whole recordings go to one fold, stratified by label."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), np.int64)
    group_ids = np.unique(groups)
    group_label = np.array([labels[groups == g].max() for g in group_ids])
    for value in np.unique(group_label):
        members = rng.permutation(group_ids[group_label == value])
        for n, g in enumerate(members):
            fold[groups == g] = n % folds
    return fold


@dataclass
class Outcome:
    """Sequence-level predictions and truth, with the figures derived from them."""

    truth: np.ndarray
    predicted: np.ndarray
    names: list[str] = field(default_factory=list)

    @property
    def confusion(self) -> dict[str, int]:
        t, p = self.truth.astype(bool), self.predicted.astype(bool)
        return {"tp": int((t & p).sum()), "fn": int((t & ~p).sum()),
                "fp": int((~t & p).sum()), "tn": int((~t & ~p).sum())}

    def figures(self, resamples: int = 1000) -> dict[str, tuple[float, float, float]]:
        """Sensitivity, specificity and F1, each with a 95% bootstrap interval over sequences."""
        stats: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
            "sensitivity": _sensitivity, "specificity": _specificity, "f1": _f1,
        }
        with warnings.catch_warnings():  # one class absent: NaN intervals, said by the NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return {name: (fn(self.truth, self.predicted),
                           *bootstrap_interval(fn, self.truth, self.predicted,
                                               resamples=resamples))
                    for name, fn in stats.items()}


def _sensitivity(t: np.ndarray, p: np.ndarray) -> float:
    return float(p[t == 1].mean()) if (t == 1).any() else float("nan")


def _specificity(t: np.ndarray, p: np.ndarray) -> float:
    return float(1 - p[t == 0].mean()) if (t == 0).any() else float("nan")


def _f1(t: np.ndarray, p: np.ndarray) -> float:
    tp = float(((t == 1) & (p == 1)).sum())
    denom = 2 * tp + float(((t == 0) & (p == 1)).sum()) + float(((t == 1) & (p == 0)).sum())
    return 2 * tp / denom if denom else float("nan")


def rule_detects_fall(rule: FallRule, seq: PoseSequence) -> bool:
    """Runs the whole per-person rule over one sequence (one person, id 1): a fall event?"""
    for t, body in zip(seq.times, seq.bodies):
        if any(e.kind == EventKind.FALL for e in rule.update(float(t), np.array([1]), body[None])):
            return True
    return False


def held_at_end(seq: PoseSequence, hold_s: float) -> PoseSequence:
    """``seq`` with its last frame repeated for ``hold_s`` more seconds: a camera goes on
    seeing whoever stays where the recording ends (the recordings stop seconds after a fall,
    long before a long lie could be raised)."""
    step = float(seq.times[1] - seq.times[0]) if len(seq.times) > 1 else 1 / MD4FD_FPS
    held = round(hold_s / step)
    times = np.concatenate([seq.times, seq.times[-1] + step * np.arange(1, held + 1)])
    bodies = np.concatenate([seq.bodies, np.repeat(seq.bodies[-1:], held, axis=0)])
    return PoseSequence(seq.name, seq.label, times, bodies)


def rule_event_kinds(rule: FallRule, seq: PoseSequence) -> set[str]:
    """Runs the whole per-person rule over one sequence (one person, id 1): the kinds of the
    events it raised."""
    return {e.kind for t, body in zip(seq.times, seq.bodies)
            for e in rule.update(float(t), np.array([1]), body[None])}


def stitch(sequences: list[PoseSequence], members: list[int]) -> PoseSequence:
    """One recording rebuilt from its overlapping windows: each frame once, in order."""
    frames: list[np.ndarray] = []
    where: dict[bytes, int] = {}
    for i in members:
        bodies = sequences[i].bodies
        start = where.get(np.round(bodies[0, :, :2], 1).tobytes())
        new = bodies if start is None else bodies[len(frames) - start:]
        for body in new:
            where.setdefault(np.round(body[:, :2], 1).tobytes(), len(frames))
            frames.append(body)
    stacked = np.array(frames)
    label = max(sequences[i].label for i in members)
    name = "+".join(sequences[i].name for i in members)
    step = float(np.diff(sequences[members[0]].times[:2])[0]) if len(frames) > 1 else 1 / MD4FD_FPS
    return PoseSequence(name, label, np.arange(len(stacked)) * step, stacked)


@dataclass
class CrossValidation:
    """Held-out outcomes: the classifier and the whole rule per window, the rule per recording
    (windows stitched back together: URFD's own sequences)."""

    classifier: Outcome
    rule: Outcome
    recordings: Outcome


def cross_validate(sequences: list[PoseSequence], folds: int = 5, seed: int = 0,
                   settings: FallSettings | None = None, l2: float = 1.0) -> CrossValidation:
    """k-fold by recording: each fold's classifier is fitted on the other folds' recordings
    only (all their frame-rate copies); its held-out sequences are judged at 30 fps."""
    labels = np.array([s.label for s in sequences])
    groups = recordings(sequences)
    fold = sequence_folds(labels, groups, folds, seed)
    for k in range(folds):  # every training side needs recordings with and without a fall
        if len(np.unique(labels[fold != k])) < 2:
            with_fall = len(np.unique(groups[labels == 1]))
            raise InputError(
                f"cannot cross-validate: {len(np.unique(groups))} recordings ({with_fall} "
                f"with a fall) in {folds} folds leave a training side with one class only; "
                "use fewer --folds, more data, or --shipped")
    x, y, rows = training_set(sequences)
    window_pred = np.zeros(len(sequences), np.int64)
    rule_pred = np.zeros(len(sequences), np.int64)
    stitched: list[tuple[PoseSequence, bool]] = []
    for k in range(folds):
        train = fold[rows] != k
        model = FallClassifier.fit(x[train], y[train], l2=l2)
        for i in np.flatnonzero(fold == k):
            prob = model.probability(sequence_features(sequences[i]))[0]
            window_pred[i] = prob >= model.threshold
            rule_pred[i] = rule_detects_fall(FallRule(settings, model), sequences[i])
        for g in np.unique(groups[fold == k]):
            whole = stitch(sequences, list(np.flatnonzero(groups == g)))
            stitched.append((whole, rule_detects_fall(FallRule(settings, model), whole)))
    names = [s.name for s in sequences]
    return CrossValidation(
        Outcome(labels, window_pred, names), Outcome(labels, rule_pred, names),
        Outcome(np.array([w.label for w, _ in stitched]),
                np.array([int(d) for _, d in stitched]), [w.name for w, _ in stitched]),
    )


# -- videos ---------------------------------------------------------------------------------


@dataclass
class VideoRun:
    """The fall rule over one video: its events and the frame times it saw."""

    path: Path
    fps: float
    events: list[Event]
    frames: int
    seconds_per_frame: float  # pose + tracking + rule, wall clock


def rgb_half(image: np.ndarray) -> np.ndarray:
    """URFD's camera clips are depth (left) and RGB (right) side by side, 640x240: the RGB."""
    height, width = image.shape[:2]
    return image[:, width // 2:] if (width, height) == (640, 240) else image


def run_video(path: Path, people: PeoplePipeline, settings: FallSettings | None = None,
              hold_last_s: float = 0.0, fps: float | None = None) -> VideoRun:
    """Every event the rule raises on one video (URFD layout: its RGB half), in firing order.

    hold_last_s > 0 repeats the last frame for that long afterwards, as a camera watching a
    still scene would: how a long lie is tested on a clip shorter than ``long_lie_s``.
    """
    source = open_media(path, fps)
    rate = fps or source.info.native_fps or 25.0
    state = people.start_source(rate, settings)
    fired: dict[int, Event] = {}
    count, busy = 0, 0.0
    last: Frame | None = None
    for frame in source.frames():
        last = Frame(rgb_half(frame.image), frame.index, frame.timestamp, frame.source)
        busy += _step(people, state, last, fired)
        count += 1
    if last is not None:
        for k in range(1, round(hold_last_s * rate) + 1):
            held = Frame(last.image, last.index + k, last.timestamp + k / rate, last.source)
            busy += _step(people, state, held, fired)
            count += 1
    people.finish(state)
    return VideoRun(path, rate, list(fired.values()), count, busy / max(count, 1))


def _step(people: PeoplePipeline, state: PeopleState, frame: Frame,
          fired: dict[int, Event]) -> float:
    started = time.perf_counter()
    (analysis,) = people.analyse([frame], state)
    fired |= {id(e): e for e in analysis.events}
    return time.perf_counter() - started


# -- whole data folders -----------------------------------------------------------------------


@dataclass
class TimedVideo:
    """One labelled URFD video: did a fall fire, and when against the labelled frames."""

    name: str
    label: int
    fall_s: float | None  # first fall event, seconds
    falling_from_s: float | None  # first frame labelled falling (0) or lying (1)
    lying_from_s: float | None  # first frame labelled lying


def evaluate_md4fd(path: Path, cv: bool, folds: int = 5, size: tuple[float, float] = MD4FD_SIZE,
                   fps: float = MD4FD_FPS) -> CrossValidation:
    """Classifier on whole sequences, full rule frame by frame, rule on stitched recordings.

    cv: each sequence judged by a classifier fitted without its recording (the fair figure on
    the training data); otherwise by the shipped classifier (fair on data it never saw).
    """
    sequences = read_md4fd(path, size, fps)
    if cv:
        return cross_validate(sequences, folds)
    model = FallClassifier.load()
    labels = np.array([s.label for s in sequences])
    window = np.array([model.probability(sequence_features(s))[0] >= model.threshold
                       for s in sequences]).astype(np.int64)
    rule = np.array([rule_detects_fall(FallRule(classifier=model), s) for s in sequences])
    groups = recordings(sequences)
    whole = [stitch(sequences, list(np.flatnonzero(groups == g))) for g in np.unique(groups)]
    names = [s.name for s in sequences]
    return CrossValidation(
        Outcome(labels, window, names), Outcome(labels, rule.astype(np.int64), names),
        Outcome(np.array([w.label for w in whole]),
                np.array([int(rule_detects_fall(FallRule(classifier=model), w)) for w in whole]),
                [w.name for w in whole]),
    )


def labelled_videos(folder: Path) -> list[tuple[LabelledSequence, Path]]:
    """URFD CSV sequences that have a video beside them (``<sequence>-cam0.mp4`` anywhere)."""
    sequences = [s for csv_path in sorted(folder.rglob("urfall-*.csv"))
                 for s in read_urfd_csv(csv_path)]
    videos = {p.name.split("-cam")[0]: p for p in sorted(folder.rglob("*-cam0.mp4"))}
    return [(s, videos[s.name]) for s in sequences if s.name in videos]


def evaluate_urfd_videos(folder: Path, people: PeoplePipeline, settings: FallSettings | None = None
                         ) -> tuple[Outcome, list[TimedVideo]]:
    """The whole system (pose, tracks, rule) on every labelled URFD video in ``folder``."""
    timed = []
    for seq, video in labelled_videos(folder):
        run = run_video(video, people, settings)
        falls = [e.detected_s for e in run.events if e.kind == EventKind.FALL]
        # URFD's frame numbers start at 1; a frame's time is (number - 1) / fps.
        falling = seq.frames[seq.frame_labels >= 0]
        lying = seq.frames[seq.frame_labels == 1]
        timed.append(TimedVideo(
            seq.name, seq.label, min(falls) if falls else None,
            float(falling[0] - 1) / run.fps if len(falling) else None,
            float(lying[0] - 1) / run.fps if len(lying) else None,
        ))
    truth = np.array([t.label for t in timed], np.int64)
    predicted = np.array([t.fall_s is not None for t in timed], np.int64)
    return Outcome(truth, predicted, [t.name for t in timed]), timed
