"""Age evaluation: MAE overall, per age band and per group, with bootstrap intervals.

Group labels (gender, race) come from the dataset's file names and are used here only, to
measure whether the model errs more for some groups; no model ever sees them.

A raw gap between race groups mixes two things: how the model errs for a group, and how old
that group's photos are (errors grow with age, and UTKFace's groups have different age mixes).
So the adult race gap is also given age-standardised: each group's MAE per adult age band,
weighted by one standard age mix (all adults' band shares), so every group is scored as if it
had the same ages. A gap that stays after standardising is the model's, not the sample's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.datasets import AgeSet, DataKind, Seen
from affectlens.eval.faces import FaceMode, Progress, batched, load_faces, readable_faces
from affectlens.eval.metrics import bootstrap_interval, mean_absolute_error
from affectlens.models.age import AgeEstimator
from affectlens.types import AGE_BANDS, age_band

ADULT_AGE = 20  # the per-race gap is reported for adults, where the target applies
# The adult bands of the standard age mix: the product's own bands from ADULT_AGE up.
ADULT_BANDS = tuple(name for name, low, _ in AGE_BANDS if low >= ADULT_AGE)


@dataclass
class AgePredictions:
    truth: np.ndarray
    predicted: np.ndarray  # NaN where no face was found
    genders: np.ndarray
    races: np.ndarray
    unreadable: list[Path] = field(default_factory=list)  # left out of every figure


def predict_ages(
    dataset: AgeSet,
    estimator: AgeEstimator,
    mode: FaceMode = FaceMode.crops,
    progress: Progress | None = None,
) -> AgePredictions:
    faces = readable_faces(
        dataset.root, load_faces(dataset.paths, estimator.template, mode, progress=progress)
    )
    predicted = batched(estimator.predict, faces.crops).astype(np.float64)
    predicted[~faces.found] = np.nan
    kept = faces.kept
    return AgePredictions(
        np.array(dataset.ages, np.float64)[kept], predicted,
        np.array(dataset.genders)[kept], np.array(dataset.races)[kept], faces.unreadable,
    )


@dataclass
class GroupError:
    name: str
    n: int
    mae: float
    mean_error: float  # predicted - true: positive means the model guesses too old
    mae_ci: tuple[float, float]


@dataclass
class StandardisedGap:
    """The adult race-group gap at one standard age mix, beside the raw gap, with intervals.

    ``bands`` are the adult bands every group has at least one image in (a band some group
    lacks cannot be standardised and is left out, its images counted in ``left_out``);
    ``weights`` are those bands' shares among all adults in them: the standard mix.
    Intervals resample images within each group and band, so the mix stays the standard one.
    """

    bands: list[str]
    weights: list[float]
    groups: list[GroupError]  # each group's MAE at the standard age mix
    gap: float
    gap_ci: tuple[float, float]
    raw_gap_ci: tuple[float, float]
    left_out: int


@dataclass
class AgeReport:
    model: str
    data: str
    mode: str
    images: int
    missed_faces: int
    malformed_names: int
    mae: float
    mae_ci: tuple[float, float]
    mean_error: float
    mae_60_plus: float
    bands: list[GroupError]
    genders: list[GroupError]
    races_adult: list[GroupError]
    race_gap_adult: float
    gender_gap: float
    race_gap_standardised: StandardisedGap | None = None  # None: fewer than two race groups
    unreadable_images: int = 0  # files that are not images: not scored, only counted
    data_kind: str = DataKind.other.value  # which public dataset: picks the card's Limits
    seen_in_training: int | None = None  # of these images, by the model's manifest
    trained_on: str = ""  # the manifest's words; "" where the model ships no manifest


def _groups(
    truth: np.ndarray, predicted: np.ndarray, keys: np.ndarray, order: list[str], resamples: int
) -> list[GroupError]:
    out = []
    for name in order:
        sel = keys == name
        if sel.any():
            t, p = truth[sel], predicted[sel]
            out.append(GroupError(
                str(name), int(sel.sum()), mean_absolute_error(t, p), float(np.mean(p - t)),
                bootstrap_interval(mean_absolute_error, t, p, resamples=resamples),
            ))
    return out


def _gap(groups: list[GroupError]) -> float:
    """Largest minus smallest group MAE; NaN (not 0) with fewer than two groups to compare."""
    if len(groups) < 2:
        return float("nan")
    return max(g.mae for g in groups) - min(g.mae for g in groups)


def _resampled_maes(errors: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The MAE of ``resamples`` bootstrap resamples of one stratum's absolute errors."""
    rows = rng.integers(0, len(errors), (resamples, len(errors)))
    return errors[rows].mean(axis=1)


def _interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def standardised_gap(
    truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray, resamples: int = 1000,
    seed: int = 0,
) -> StandardisedGap | None:
    """Each group's adult MAE at one standard age mix, and the largest gap between them.

    Callers pass adults only. None with fewer than two groups: there is no gap to give.
    """
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        return None
    bands = np.array([age_band(a) for a in truth])
    kept = [b for b in ADULT_BANDS if all(((groups == g) & (bands == b)).any() for g in names)]
    in_kept = np.isin(bands, kept)
    if not kept:
        return None
    counts = np.array([(bands[in_kept] == b).sum() for b in kept], np.float64)
    weights = counts / counts.sum()
    signed = predicted - truth
    rng = np.random.default_rng(seed)
    standard: list[GroupError] = []
    resampled, raw = [], []
    for g in names:
        strata = [(groups == g) & (bands == b) for b in kept]

        def at_standard_mix(values: list[float] | list[np.ndarray]) -> float | np.ndarray:
            return sum(w * v for w, v in zip(weights, values, strict=True))

        resampled.append(at_standard_mix(
            [_resampled_maes(np.abs(signed[s]), resamples, rng) for s in strata]))
        raw.append(_resampled_maes(np.abs(signed[groups == g]), resamples, rng))
        standard.append(GroupError(
            g, int(sum(s.sum() for s in strata)),
            float(at_standard_mix([float(np.abs(signed[s]).mean()) for s in strata])),
            float(at_standard_mix([float(signed[s].mean()) for s in strata])),
            _interval(resampled[-1]),
        ))
    resampled_arr, raw_arr = np.array(resampled), np.array(raw)
    return StandardisedGap(
        bands=kept,
        weights=[float(w) for w in weights],
        groups=standard,
        gap=_gap(standard),
        gap_ci=_interval(resampled_arr.max(axis=0) - resampled_arr.min(axis=0)),
        raw_gap_ci=_interval(raw_arr.max(axis=0) - raw_arr.min(axis=0)),
        left_out=int((~in_kept).sum()),
    )


def evaluate_ages(
    predictions: AgePredictions, *, model: str, data: str, mode: str, malformed: int,
    resamples: int = 1000, data_kind: DataKind = DataKind.other, seen: Seen | None = None,
) -> AgeReport:
    """Errors over the images where a face was found; a miss has no estimate to be wrong by,
    so misses are left out of every error and counted and reported instead."""
    found = ~np.isnan(predictions.predicted)
    if not found.any():
        raise InputError(
            f"{data}: no face found in any of the {len(found)} images, so there is nothing to "
            "measure; are they face images? (--mode crops takes each image as a face crop)"
        )
    t, p = predictions.truth[found], predictions.predicted[found]
    genders, races = predictions.genders[found], predictions.races[found]
    bands = np.array([age_band(a) for a in t])
    adult = t >= ADULT_AGE
    old = t >= 60
    gender_groups = _groups(t, p, genders, sorted(set(genders.tolist())), resamples)
    race_groups = _groups(t[adult], p[adult], races[adult], sorted(set(races.tolist())),
                          resamples)
    return AgeReport(
        model=model,
        data=data,
        mode=mode,
        images=len(predictions.truth),
        missed_faces=int((~found).sum()),
        malformed_names=malformed,
        mae=mean_absolute_error(t, p),
        mae_ci=bootstrap_interval(mean_absolute_error, t, p, resamples=resamples),
        mean_error=float(np.mean(p - t)) if len(t) else float("nan"),
        mae_60_plus=mean_absolute_error(t[old], p[old]),
        bands=_groups(t, p, bands, [name for name, _, _ in AGE_BANDS], resamples),
        genders=gender_groups,
        races_adult=race_groups,
        race_gap_adult=_gap(race_groups),
        gender_gap=_gap(gender_groups),
        race_gap_standardised=standardised_gap(t[adult], p[adult], races[adult], resamples),
        unreadable_images=len(predictions.unreadable),
        data_kind=data_kind.value,
        seen_in_training=seen.images if seen else None,
        trained_on=seen.trained_on if seen else "",
    )
