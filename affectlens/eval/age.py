"""Age evaluation: MAE overall, per age band and per group, with bootstrap intervals.

Group labels (gender, race) come from the dataset's file names and are used here only, to
measure whether the model errs more for some groups; no model ever sees them.
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
        unreadable_images=len(predictions.unreadable),
        data_kind=data_kind.value,
        seen_in_training=seen.images if seen else None,
        trained_on=seen.trained_on if seen else "",
    )
