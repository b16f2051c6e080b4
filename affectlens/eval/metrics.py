"""Classification, calibration and regression metrics, with bootstrap confidence intervals.

Plain numpy, so that each formula can be checked by hand in tests/test_metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from affectlens.eval.intervals import clopper_pearson

ECE_BINS = 15


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows true class, columns predicted; predictions < 0 dropped."""
    matrix = np.zeros((classes, classes), np.int64)
    valid = predicted >= 0
    np.add.at(matrix, (truth[valid], predicted[valid]), 1)
    return matrix


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(truth == predicted)) if len(truth) else float("nan")


def per_class_recall(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Recall per true class; NaN for a class with no examples. Missed faces count as wrong."""
    return np.array([
        np.mean(predicted[truth == c] == c) if np.any(truth == c) else np.nan
        for c in range(classes)
    ])


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[int]) -> float:
    """Mean F1 over ``classes`` (the classes present in the data); -1 predictions are errors."""
    scores = []
    for c in classes:
        tp = np.sum((predicted == c) & (truth == c))
        if tp == 0:
            scores.append(0.0)
            continue
        precision = tp / np.sum(predicted == c)
        recall = tp / np.sum(truth == c)
        scores.append(2 * precision * recall / (precision + recall))
    return float(np.mean(scores)) if scores else float("nan")


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: mean confidence, accuracy and count (empty bins have count 0)."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted gap between confidence and accuracy."""
        total = self.count.sum()
        if total == 0:
            return float("nan")
        gaps = np.abs(np.nan_to_num(self.confidence) - np.nan_to_num(self.accuracy))
        return float(np.sum(gaps * self.count) / total)


def reliability(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Top-class confidence binned into ``bins`` equal-width bins on [0, 1]."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are (low, high]; a confidence of exactly 0 goes to the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, confidence, bins) / count
        mean_acc = np.bincount(index, correct.astype(float), bins) / count
    return Reliability(edges, mean_conf, mean_acc, count)


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    return reliability(probs, truth, bins).ece


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays)``, resampling rows together."""
    n = len(arrays[0])
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, n, n)
        values[i] = statistic(*(a[rows] for a in arrays))
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def accuracy_interval(
    truth: np.ndarray, predicted: np.ndarray, resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Interval of the share of images right: percentile bootstrap over images, except where
    every image is right or every one wrong. There every resample has the same share, so the
    bootstrap collapses to a point (100% to 100% on 20 images says nothing); the exact
    (Clopper-Pearson) interval is used instead (about 83% to 100% for 20 of 20)."""
    right, n = int(np.sum(truth == predicted)), len(truth)
    if n and right in (0, n):
        return clopper_pearson(right, n, level)
    return bootstrap_interval(accuracy, truth, predicted, resamples=resamples, level=level)


def mean_absolute_error(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - truth))) if len(truth) else float("nan")


def selective_accuracy(
    probs: np.ndarray, truth: np.ndarray, threshold: float
) -> tuple[float, float]:
    """(coverage, accuracy on the covered faces) when faces below ``threshold`` are abstained on."""
    covered = probs.max(1) >= threshold
    coverage = float(np.mean(covered)) if len(truth) else float("nan")
    return coverage, accuracy(truth[covered], probs[covered].argmax(1))
