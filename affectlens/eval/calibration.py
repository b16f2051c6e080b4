"""Temperature scaling and the abstention threshold, fitted on validation data, never on tests.

Temperature scaling (Guo et al., 2017) divides the logits by one number T fitted to minimise the
negative log-likelihood; it changes confidence but never the predicted class. The abstention
threshold is the lowest top-class probability at which the labelled faces of the validation set
reach a target accuracy, so "uncertain" means "less likely right than we promise".
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from affectlens.errors import InputError
from affectlens.models.calibration import DEFAULT_TARGET_ACCURACY
from affectlens.types import EXPRESSIONS

# Fewer validation faces than this fit a temperature and threshold to noise, and the result
# would replace the calibration shipped beside the model's weights.
MIN_VALIDATION_IMAGES = 100


def negative_log_likelihood(logits: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    log_probs = log_softmax(np.asarray(logits, np.float64) / temperature, axis=1)
    return float(-np.mean(log_probs[np.arange(len(truth)), truth]))


def require_enough_validation(truth: np.ndarray, data: str) -> None:
    """An InputError unless there are enough faces, of at least two classes, to fit on."""
    if len(truth) < MIN_VALIDATION_IMAGES:
        raise InputError(
            f"{data}: only {len(truth)} readable validation images (the tenth of the files held "
            f"out from training); calibrate needs at least {MIN_VALIDATION_IMAGES}"
        )
    classes = sorted({EXPRESSIONS[c] for c in truth.tolist()})
    if len(classes) < 2:
        raise InputError(f"{data}: the validation images are all {classes[0]}; calibrate needs "
                         "faces of several classes")


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises validation NLL (searched on log T)."""
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, truth, float(np.exp(log_t))),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
    )
    return float(np.exp(result.x))


def abstention_threshold(
    probs: np.ndarray, truth: np.ndarray, target_accuracy: float = DEFAULT_TARGET_ACCURACY
) -> float:
    """The lowest threshold whose covered faces are at least ``target_accuracy`` right."""
    confidence, meets = _prefixes_meeting(probs, truth, target_accuracy)
    if len(meets) == 0:
        return 1.0
    # The largest prefix (most coverage) that meets the target.
    return float(confidence[meets[-1]])


def target_reachable(probs: np.ndarray, truth: np.ndarray, target_accuracy: float) -> bool:
    """Whether any threshold meets the target; if none does, every face would be 'uncertain'."""
    return len(_prefixes_meeting(probs, truth, target_accuracy)[1]) > 0


def _prefixes_meeting(
    probs: np.ndarray, truth: np.ndarray, target_accuracy: float
) -> tuple[np.ndarray, np.ndarray]:
    """(confidences, most confident first; the prefix ends whose accuracy meets the target)."""
    confidence = probs.max(1)
    order = np.argsort(-confidence)
    correct = (probs.argmax(1) == truth)[order]
    running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    return confidence[order], np.flatnonzero(running >= target_accuracy)
