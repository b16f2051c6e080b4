"""The age-standardised race gap (issue 18 item 4): what the standard age mix removes."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval.age import ADULT_BANDS, standardised_gap


def _group(ages_per_band: dict[float, int], error_at: dict[float, float], name: str):
    truth = np.concatenate([np.full(n, age) for age, n in ages_per_band.items()])
    noise = np.resize([-1.0, 1.0], len(truth))  # the same |error| in a band, either sign
    predicted = truth + noise * np.array([error_at[a] for a in truth])
    return truth, predicted, np.full(len(truth), name)


def _join(*groups):
    return tuple(np.concatenate(parts) for parts in zip(*groups, strict=True))


def test_a_gap_made_only_by_different_ages_vanishes_at_one_age_mix() -> None:
    errors = {25.0: 4.0, 70.0: 10.0}  # every group errs alike at each age; old faces err more
    young = _group({25.0: 90, 70.0: 10}, errors, "young-sample")
    old = _group({25.0: 10, 70.0: 90}, errors, "old-sample")
    truth, predicted, groups = _join(young, old)
    gap = standardised_gap(truth, predicted, groups, resamples=200)
    assert gap is not None
    raw = {g: float(np.abs(predicted - truth)[groups == g].mean()) for g in ("young-sample",
                                                                             "old-sample")}
    assert raw["old-sample"] - raw["young-sample"] == pytest.approx(4.8)
    assert gap.raw_gap_ci[0] > 3  # the raw gap is real in the sample...
    assert gap.gap == pytest.approx(0, abs=1e-9)  # ...and all of it is the age mix
    assert gap.gap_ci[0] == pytest.approx(0, abs=1e-9)
    assert gap.bands == ["20-34", "65+"] and sum(gap.weights) == pytest.approx(1)
    assert [g.n for g in gap.groups] == [100, 100] and gap.left_out == 0


def test_a_gap_the_model_makes_stays_at_one_age_mix() -> None:
    a = _group({25.0: 50, 40.0: 50}, {25.0: 3.0, 40.0: 5.0}, "a")
    b = _group({25.0: 80, 40.0: 20}, {25.0: 6.0, 40.0: 8.0}, "b")  # 3 years worse everywhere
    gap = standardised_gap(*_join(a, b), resamples=200)
    assert gap is not None and gap.gap == pytest.approx(3.0)
    by_name = {g.name: g for g in gap.groups}
    assert by_name["b"].mae - by_name["a"].mae == pytest.approx(3.0)
    assert gap.gap_ci[0] <= 3.0 <= gap.gap_ci[1]


def test_a_band_one_group_lacks_is_left_out_and_counted() -> None:
    a = _group({25.0: 20, 70.0: 5}, {25.0: 3.0, 70.0: 9.0}, "a")
    b = _group({25.0: 20}, {25.0: 3.0}, "b")
    gap = standardised_gap(*_join(a, b), resamples=50)
    assert gap is not None and gap.bands == ["20-34"] and gap.left_out == 5
    assert gap.gap == pytest.approx(0)
    assert set(gap.bands) <= set(ADULT_BANDS)


def test_one_group_has_no_gap() -> None:
    assert standardised_gap(*_group({30.0: 10}, {30.0: 2.0}, "a"), resamples=10) is None


def test_on_real_faces_groups_with_one_age_mix_keep_their_raw_errors(dataset) -> None:
    """Real UTKFace faces through the real age model: where every group has the same age mix
    (five adults a group in each of two bands, picked by file name), standardising changes
    nothing, so the standardised figures equal the raw ones, and the intervals hold them."""
    from affectlens.eval.age import evaluate_ages, predict_ages
    from affectlens.eval.datasets import read_utkface
    from affectlens.eval.faces import FaceMode
    from affectlens.models.age import AgeEstimator
    from affectlens.types import age_band

    full = read_utkface(dataset("utkface-dev"))
    taken: dict[tuple[str, str], int] = {}
    keep = []
    for age, race in zip(full.ages, full.races, strict=True):
        cell = (race, age_band(age))
        keep.append(cell[1] in ("20-34", "35-49") and taken.get(cell, 0) < 5)
        taken[cell] = taken.get(cell, 0) + keep[-1]
    data = full.subset(keep)
    predictions = predict_ages(data, AgeEstimator("affectlens"), FaceMode.crops)
    report = evaluate_ages(predictions, model="affectlens", data="utkface-dev", mode="crops",
                           malformed=0, resamples=200)
    standard = report.race_gap_standardised
    assert standard is not None and standard.bands == ["20-34", "35-49"]
    assert standard.weights == pytest.approx([0.5, 0.5])
    raw = {g.name: g for g in report.races_adult}
    assert len(raw) == 5
    for group in standard.groups:
        assert group.n == raw[group.name].n == 10
        assert group.mae == pytest.approx(raw[group.name].mae)
        assert group.mean_error == pytest.approx(raw[group.name].mean_error)
        assert group.mae_ci[0] <= group.mae <= group.mae_ci[1]
    assert standard.gap == pytest.approx(report.race_gap_adult)
    assert standard.gap_ci[0] <= standard.gap <= standard.gap_ci[1]
