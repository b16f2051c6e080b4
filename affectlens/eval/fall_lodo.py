"""Leave one dataset out: the fall path's headline figure for rooms it has never seen.

For each dataset in turn the classifier is fitted on all the others (their windows and their
15 and 10 fps copies) and the whole rule is run, frame by frame, on the one left out: on each
window, and on each recording (overlapping windows stitched back into the recording they were
cut from). Nothing is chosen on the dataset being scored. Sensitivity and specificity are given
with exact (Clopper-Pearson) 95% intervals: the counts are small, and 42 of 42 is not 100% for
sure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from affectlens.eval.fall_datasets import FallDataset
from affectlens.eval.fall_temporal import WINDOW_S, window_ends
from affectlens.eval.falls import (
    Outcome,
    PoseSequence,
    held_at_end,
    resampled,
    rule_detects_fall,
    rule_event_kinds,
    sequence_features,
    stitch,
    training_set,
)
from affectlens.eval.intervals import clopper_pearson
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import FallRule
from affectlens.vocabulary import EventKind

Progress = Callable[[str], None]


class Detector(Protocol):
    """What is scored: a rule to run frame by frame, and a window model alone."""

    threshold: float  # the model alone calls a fall at p >= threshold

    def rule(self, settings: FallSettings | None) -> FallRule: ...

    def window_probability(self, seq: PoseSequence) -> float: ...

    def recording_probability(self, seq: PoseSequence) -> float: ...


@dataclass(frozen=True)
class LogisticDetector:
    """The rule with the logistic classifier (the shipped path), and the classifier alone."""

    model: FallClassifier

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def rule(self, settings: FallSettings | None) -> FallRule:
        return FallRule(settings, self.model)

    def window_probability(self, seq: PoseSequence) -> float:
        return float(self.model.probability(sequence_features(seq))[0])

    def recording_probability(self, seq: PoseSequence) -> float:
        """Highest p(fall) over the windows of WINDOW_S sliding over the recording, as
        the temporal model alone is scored (fall_temporal.window_ends)."""
        best = 0.0
        for end in window_ends(seq.times):
            keep = (seq.times > end - WINDOW_S) & (seq.times <= end + 1e-6)
            part = PoseSequence(seq.name, seq.label, seq.times[keep], seq.bodies[keep])
            best = max(best, self.window_probability(part))
        return best


@dataclass(frozen=True)
class Rate:
    """k of n, with its exact 95% interval."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.hits, self.total)

    def __str__(self) -> str:
        if not self.total:
            return "-"
        low, high = self.interval
        return f"{self.value:.1%} [{low:.0%}-{high:.0%}] ({self.hits}/{self.total})"

    def as_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {"hits": self.hits, "total": self.total, "value": self.value,
                "ci95_low": low, "ci95_high": high}


def sensitivity(outcome: Outcome) -> Rate:
    t, p = outcome.truth == 1, outcome.predicted == 1
    return Rate(int((t & p).sum()), int(t.sum()))


def specificity(outcome: Outcome) -> Rate:
    t, p = outcome.truth == 0, outcome.predicted == 1
    return Rate(int((t & ~p).sum()), int(t.sum()))


@dataclass
class HeldOutResult:
    """One dataset scored by a classifier that never saw it."""

    dataset: str
    trained_on: list[str]
    classifier: Outcome  # the classifier alone, per window
    windows: Outcome  # the whole rule, per window
    recordings: Outcome  # the whole rule, per recording (windows stitched)
    note: str = ""
    # Per recording, its last frame held long_lie_s + 2 s (whoever stays down stays in view):
    # a fall or a long lie raised. What a care home is told about a fall the rule did not call
    # at once; for daily activities, those that end lying on the floor (expected, counted apart).
    stays_down: Outcome | None = None
    alone: Outcome | None = None  # the model alone, per recording (any sliding window)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"dataset": self.dataset, "trained_on": self.trained_on,
                                  "note": self.note}
        for name in ("classifier", "windows", "recordings", "stays_down", "alone"):
            outcome: Outcome | None = getattr(self, name)
            if outcome is None:
                continue
            out[name] = {"sensitivity": sensitivity(outcome).as_dict(),
                         "specificity": specificity(outcome).as_dict(),
                         "missed": [n for n, t, p in zip(outcome.names, outcome.truth,
                                                         outcome.predicted) if t and not p],
                         "false_alarms": [n for n, t, p in zip(outcome.names, outcome.truth,
                                                               outcome.predicted)
                                          if p and not t]}
        return out


def fit_on(datasets: Sequence[FallDataset], l2: float = 1.0) -> FallClassifier:
    """The classifier fitted on every trusted sequence of ``datasets`` (frame-rate copies too)."""
    xs, ys = [], []
    for dataset in datasets:
        x, y, _ = training_set(dataset.ordered().sequences)
        xs.append(x)
        ys.append(y)
    return FallClassifier.fit(np.concatenate(xs), np.concatenate(ys), l2=l2)


def recordings_of(dataset: FallDataset) -> list[PoseSequence]:
    """Each recording whole: MD4FD windows of one recording stitched together; a sequence
    that is a whole recording already (UP-Fall's: ``windows`` False) stays as it is."""
    if not dataset.windows:
        return list(dataset.sequences)
    return [stitch(dataset.sequences, list(np.flatnonzero(dataset.groups == g)))
            for g in np.unique(dataset.groups)]


def score(dataset: FallDataset, model: FallClassifier | Detector,
          settings: FallSettings | None = None, trained_on: list[str] | None = None,
          note: str = "", step: int = 1, alone: bool = True) -> HeldOutResult:
    """The model alone and the whole rule on every window and recording of ``dataset``; with
    ``step`` > 1 on every step-th frame (a slower camera), taken after stitching. ``model``:
    the logistic classifier, or any Detector (the temporal model, fall_temporal).
    ``alone``: also the model alone per recording (its sliding windows; seconds more)."""
    detector = LogisticDetector(model) if isinstance(model, FallClassifier) else model
    seqs = [resampled(s, step) for s in dataset.sequences]
    labels = dataset.labels
    names = [s.name for s in seqs]
    window_p = np.array([detector.window_probability(s) for s in seqs])
    rule = np.array([rule_detects_fall(detector.rule(settings), s) for s in seqs], np.int64)
    whole = [resampled(w, step) for w in recordings_of(dataset)]
    found = np.array([rule_detects_fall(detector.rule(settings), w) for w in whole], np.int64)
    hold_s = (settings or FallSettings()).long_lie_s + 2.0
    alarmed = np.array([bool({EventKind.FALL, EventKind.LONG_LIE} & rule_event_kinds(
        detector.rule(settings), held_at_end(w, hold_s))) for w in whole], np.int64)
    by_model = np.array([detector.recording_probability(w) >= detector.threshold
                         for w in whole], np.int64) if alone else None
    truth, whole_names = np.array([w.label for w in whole]), [w.name for w in whole]
    return HeldOutResult(
        dataset.name, trained_on or [],
        Outcome(labels, (window_p >= detector.threshold).astype(np.int64), names),
        Outcome(labels, rule, names),
        Outcome(truth, found, whole_names),
        note,
        Outcome(truth, alarmed, whole_names),
        Outcome(truth, by_model, whole_names) if by_model is not None else None,
    )


def leave_one_dataset_out(datasets: Sequence[FallDataset], settings: FallSettings | None = None,
                          l2: float = 1.0, progress: Progress | None = None,
                          fit: Callable[[list[FallDataset]], FallClassifier | Detector]
                          | None = None) -> list[HeldOutResult]:
    """Each dataset scored by a classifier fitted on the others only (the logistic one, or
    what ``fit`` makes of the others: the temporal model).

    A dataset whose time order is unsure in places (UP-Fall) is scored twice: on its trusted
    sequences (the headline) and on all of them; it trains on its trusted sequences only.
    """
    results = []
    for held in datasets:
        others = [d for d in datasets if d is not held]
        if not any(d.has_negatives for d in others) or not any((d.labels == 1).any()
                                                               for d in others):
            raise ValueError(f"cannot hold out {held.name}: the others lack falls or daily "
                             "activities to train on")
        if progress:
            progress(f"{held.name}: fitting on {', '.join(d.name for d in others)}")
        model = fit(others) if fit is not None else fit_on(others, l2)
        trained_on = [d.name for d in others]
        if held.unordered:
            trusted = held.ordered()
            results.append(score(trusted, model, settings, trained_on,
                                 f"{len(trusted.sequences)} sequences in trusted time order"))
            results.append(score(held, model, settings, trained_on,
                                 f"all {len(held.sequences)} sequences, "
                                 f"{len(held.unordered)} in unsure order"))
        else:
            results.append(score(held, model, settings, trained_on))
    return results


def false_falls(datasets: Sequence[FallDataset],
                model_for: Callable[[FallDataset], FallClassifier | Detector],
                settings: FallSettings | None = None) -> tuple[int, float]:
    """Fall events raised by the whole rule over every daily-activity recording, each
    dataset's judged by ``model_for(dataset)`` (one that never saw it): (events, seconds of
    that footage)."""
    events, seconds = 0, 0.0
    for held in datasets:
        if not held.has_negatives:
            continue
        model = model_for(held)
        detector = LogisticDetector(model) if isinstance(model, FallClassifier) else model
        for whole in recordings_of(held):
            if whole.label:
                continue
            rule = detector.rule(settings)
            events += sum(e.kind == "fall" for t, b in zip(whole.times, whole.bodies)
                          for e in rule.update(float(t), np.array([1]), b[None]))
            seconds += float(whole.times[-1] - whole.times[0]) + 1 / held.fps
    return events, seconds
