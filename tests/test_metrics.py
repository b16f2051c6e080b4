"""Metrics and calibration against cases computed by hand, and calibration on real data."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval.calibration import (
    abstention_threshold,
    fit_temperature,
    negative_log_likelihood,
)
from affectlens.eval.metrics import (
    accuracy,
    accuracy_interval,
    bootstrap_interval,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    mean_absolute_error,
    per_class_recall,
    reliability,
    selective_accuracy,
)
from affectlens.models.calibration import Calibration

TRUTH = np.array([0, 0, 0, 1, 1, 2])
PREDICTED = np.array([0, 0, 1, 1, -1, 1])  # -1: no face found, always an error


def test_confusion_accuracy_and_recall_by_hand() -> None:
    matrix = confusion_matrix(TRUTH, PREDICTED, 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert accuracy(TRUTH, PREDICTED) == pytest.approx(3 / 6)
    # The missed face of class 1 is left out of the matrix but still counts against recall.
    assert per_class_recall(TRUTH, PREDICTED, 4)[:3].tolist() == pytest.approx([2 / 3, 1 / 2, 0])
    assert np.isnan(per_class_recall(TRUTH, PREDICTED, 4)[3])


def test_macro_f1_by_hand() -> None:
    # class 0: P=2/2 R=2/3 F1=0.8; class 1: P=1/3 R=1/2 F1=0.4; class 2: no TP, F1=0.
    assert macro_f1(TRUTH, PREDICTED, [0, 1, 2]) == pytest.approx((0.8 + 0.4 + 0.0) / 3)


def test_ece_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    truth = np.array([0, 1, 1, 1])
    # bin of 0.9: confidence 0.9, accuracy 0.5; bin of 0.6: confidence 0.6, accuracy 1.0.
    assert expected_calibration_error(probs, truth) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    bins = reliability(probs, truth)
    assert bins.count.sum() == 4 and np.count_nonzero(bins.count) == 2
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, np.array([0, 1])) == 0.0


def test_bootstrap_interval_brackets_the_statistic_and_narrows_with_data() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(50) < 0.7
    large = rng.random(5000) < 0.7
    low_s, high_s = bootstrap_interval(np.mean, small.astype(float))
    low_l, high_l = bootstrap_interval(np.mean, large.astype(float))
    assert low_s <= small.mean() <= high_s
    assert low_l <= large.mean() <= high_l
    assert high_l - low_l < (high_s - low_s) / 3
    assert bootstrap_interval(np.mean, np.ones(20)) == (1.0, 1.0)


def test_accuracy_interval_is_exact_where_the_bootstrap_collapses() -> None:
    """20 of 20 right: every resample is 100%, so the bootstrap says 100% to 100%; the exact
    (Clopper-Pearson) interval is 83.2% to 100% (0% to 16.8% for none right)."""
    truth = np.zeros(20, int)
    assert bootstrap_interval(accuracy, truth, truth) == (1.0, 1.0)
    low, high = accuracy_interval(truth, truth)
    assert low == pytest.approx(0.8316, abs=1e-4) and high == 1.0
    low, high = accuracy_interval(truth, truth + 1)
    assert low == 0.0 and high == pytest.approx(0.1684, abs=1e-4)
    some = np.array([0] * 15 + [1] * 5)
    assert accuracy_interval(truth, some, 200) == bootstrap_interval(
        accuracy, truth, some, resamples=200)


def test_mae_and_selective_accuracy_by_hand() -> None:
    assert mean_absolute_error(np.array([10.0, 20.0]), np.array([13.0, 19.0])) == 2.0
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.55, 0.45], [0.2, 0.8]])
    truth = np.array([0, 0, 1, 1])
    coverage, covered = selective_accuracy(probs, truth, 0.7)
    assert coverage == 0.75 and covered == pytest.approx(2 / 3)


def test_fit_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4000, 5))
    probs = Calibration().probabilities(logits)
    truth = np.array([rng.choice(5, p=p / p.sum()) for p in probs.astype(np.float64)])
    fitted = fit_temperature(logits * 3.0, truth)  # three times too confident
    assert fitted == pytest.approx(3.0, rel=0.1)
    assert negative_log_likelihood(logits * 3, truth, fitted) < negative_log_likelihood(
        logits * 3, truth, 1.0
    )


def test_abstention_threshold_meets_the_target_with_most_coverage() -> None:
    # Sorted by confidence: right, right, wrong, right, wrong -> running accuracy
    # 1, 1, 2/3, 3/4, 3/5. For a 0.75 target the longest prefix is four faces.
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6])
    probs = np.stack([confidence, 1 - confidence], 1)
    truth = np.array([0, 0, 1, 0, 1])
    assert abstention_threshold(probs, truth, 0.75) == 0.7
    assert abstention_threshold(probs, truth, 1.0) == 0.9
    assert abstention_threshold(probs, 1 - truth, 0.99) == 1.0  # never reached: abstain always


def test_calibration_file_round_trip_and_bad_file(tmp_path) -> None:
    from affectlens.errors import ModelError

    path = tmp_path / "m.calibration.json"
    Calibration(1.7, 0.35, 0.75, "test").save(path)
    assert Calibration.load(path) == Calibration(1.7, 0.35, 0.75, "test")
    assert Calibration.load(tmp_path / "absent.json") == Calibration()
    path.write_text('{"temperature": "hot", "colour": 1}')
    with pytest.raises(ModelError, match="not a valid calibration file"):
        Calibration.load(path)


def test_temperature_fitted_on_one_half_lowers_ece_on_the_other(dataset) -> None:
    """Real data: fer's logits on FER2013 PublicTest, fitted on even images, tested on odd.
    (A test of the method only: shipped calibrations are never fitted on a test set.)"""
    from affectlens.eval.datasets import read_expression_folder
    from affectlens.eval.expression import predict_expressions
    from affectlens.models.expression import ExpressionClassifier

    data = read_expression_folder(dataset("fer2013-publictest"))
    data = data.subset([i % 3 == 0 for i in range(len(data.paths))])
    predictions = predict_expressions(data, ExpressionClassifier("fer"))
    logits, truth = predictions.logits, predictions.truth
    fit, test = np.arange(len(truth)) % 2 == 0, np.arange(len(truth)) % 2 == 1
    temperature = fit_temperature(logits[fit], truth[fit])
    before = expected_calibration_error(Calibration().probabilities(logits[test]), truth[test])
    after = expected_calibration_error(
        Calibration(temperature).probabilities(logits[test]), truth[test]
    )
    assert temperature > 1.0  # fer is over-confident on unseen web faces
    assert after < before - 0.01
