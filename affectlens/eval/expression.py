"""Expression evaluation: predictions on a labelled folder, then every metric the card shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.datasets import NO_MAJORITY, DataKind, ExpressionSet, Seen
from affectlens.eval.faces import FaceMode, Progress, batched, load_faces, readable_faces
from affectlens.eval.metrics import (
    accuracy,
    accuracy_interval,
    bootstrap_interval,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_recall,
    reliability,
    selective_accuracy,
)
from affectlens.eval.votes import VoteFigures, vote_figures
from affectlens.models.calibration import Calibration
from affectlens.models.expression import ExpressionClassifier
from affectlens.types import EXPRESSIONS

MISSED = -1


@dataclass
class ExpressionPredictions:
    """Uncalibrated logits per readable image (zeros where no face was found), the true labels
    (NO_MAJORITY where FERPlus votes name none), the votes where the data has them, and the
    files that could not be read (left out of every figure)."""

    truth: np.ndarray
    logits: np.ndarray
    found: np.ndarray
    unreadable: list[Path] = field(default_factory=list)
    votes: np.ndarray | None = None

    def subset(self, keep: np.ndarray) -> ExpressionPredictions:
        return ExpressionPredictions(
            self.truth[keep], self.logits[keep], self.found[keep], self.unreadable,
            None if self.votes is None else self.votes[keep])


def predict_expressions(
    dataset: ExpressionSet,
    classifier: ExpressionClassifier,
    mode: FaceMode = FaceMode.crops,
    progress: Progress | None = None,
) -> ExpressionPredictions:
    faces = readable_faces(
        dataset.root, load_faces(dataset.paths, classifier.template, mode, progress=progress)
    )
    logits = batched(classifier.logits, faces.crops)
    logits[~faces.found] = 0.0
    truth = np.array(dataset.labels)[faces.kept]
    votes = None if dataset.votes is None else dataset.votes[faces.kept]
    return ExpressionPredictions(truth, logits, faces.found, faces.unreadable, votes)


@dataclass
class ExpressionReport:
    model: str
    data: str
    mode: str
    images: int
    missed_faces: int
    left_out: dict[str, int]
    classes: list[str]
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    recall: dict[str, float]
    confusion: list[list[int]]
    ece_uncalibrated: float
    ece: float
    ece_ci: tuple[float, float]
    temperature: float
    abstain_below: float
    coverage: float
    covered_accuracy: float
    reliability: dict[str, list[float]] = field(repr=False)
    unreadable_images: int = 0  # files that are not images: not scored, only counted
    data_kind: str = DataKind.other.value  # which public dataset: picks the card's Limits
    seen_in_training: int | None = None  # of these images, by the model's manifest
    trained_on: str = ""  # the manifest's words; "" where the model ships no manifest
    votes: VoteFigures | None = None  # FERPlus: figures against the whole vote distribution


def _labels(logits: np.ndarray, found: np.ndarray) -> np.ndarray:
    return np.where(found, logits.argmax(1), MISSED)


def evaluate_expressions(
    predictions: ExpressionPredictions,
    calibration: Calibration,
    *,
    model: str,
    data: str,
    mode: str,
    left_out: dict[str, int],
    resamples: int = 1000,
    data_kind: DataKind = DataKind.other,
    seen: Seen | None = None,
) -> ExpressionReport:
    """Metrics over every image: a missed face counts as a wrong answer for accuracy and F1.
    Calibration figures use the images where a face was found (a miss has no confidence).

    With FERPlus votes, the vote figures are over every image with votes; accuracy, F1, recall,
    confusion and calibration over those with a majority label (ties have none)."""
    votes = None
    if predictions.votes is not None and predictions.found.any():
        found = predictions.found
        votes = vote_figures(
            calibration.probabilities(predictions.logits[found]), found, predictions.votes,
            no_majority=int(np.sum(predictions.truth == NO_MAJORITY)), resamples=resamples)
        predictions = predictions.subset(predictions.truth != NO_MAJORITY)
        if not len(predictions.truth):
            raise InputError(f"{data}: no image has a majority label (every top vote is tied "
                             "or contempt), so accuracy cannot be measured")
    truth, found = predictions.truth, predictions.found
    if not found.any():
        raise InputError(
            f"{data}: no face found in any of the {len(truth)} images, so there is nothing to "
            "measure; are they face images? (--mode crops takes each image as a face crop)"
        )
    predicted = _labels(predictions.logits, found)
    present = sorted(set(truth.tolist()))
    matrix = confusion_matrix(truth, predicted, len(EXPRESSIONS))
    recall = per_class_recall(truth, predicted, len(EXPRESSIONS))
    probs = calibration.probabilities(predictions.logits[found])
    raw = Calibration().probabilities(predictions.logits[found])
    seen_truth = truth[found]
    bins = reliability(probs, seen_truth)
    coverage, covered = selective_accuracy(probs, seen_truth, calibration.threshold)
    return ExpressionReport(
        model=model,
        data=data,
        mode=mode,
        images=len(truth),
        missed_faces=int((~found).sum()),
        left_out=left_out,
        classes=[EXPRESSIONS[c] for c in present],
        accuracy=accuracy(truth, predicted),
        accuracy_ci=accuracy_interval(truth, predicted, resamples),
        macro_f1=macro_f1(truth, predicted, present),
        macro_f1_ci=bootstrap_interval(
            lambda t, p: macro_f1(t, p, present), truth, predicted, resamples=resamples
        ),
        recall={EXPRESSIONS[c]: float(recall[c]) for c in present},
        confusion=matrix.tolist(),
        ece_uncalibrated=expected_calibration_error(raw, seen_truth),
        ece=bins.ece,
        ece_ci=bootstrap_interval(
            expected_calibration_error, probs, seen_truth, resamples=resamples
        ),
        temperature=calibration.temperature,
        abstain_below=calibration.threshold,
        coverage=coverage,
        covered_accuracy=covered,
        reliability={
            "confidence": np.nan_to_num(bins.confidence).tolist(),
            "accuracy": np.nan_to_num(bins.accuracy).tolist(),
            "count": bins.count.tolist(),
        },
        unreadable_images=len(predictions.unreadable),
        data_kind=data_kind.value,
        seen_in_training=seen.images if seen else None,
        trained_on=seen.trained_on if seen else "",
        votes=votes,
    )
