"""Disparity audit of the expression model: does it read some groups of people differently?

No expression labels are needed: over faces whose file names carry group labels (UTKFace's
``<age>_<gender>_<race>_<date>``), it reports per group the mean calibrated probability of each
class and the share of faces given each label, and each group's difference from the largest
group, with bootstrap intervals. Resampling is by person where the data says who is who (a
``people`` id per image), so one person's many photos cannot narrow an interval; UTKFace says
nothing of who is who, so it is by image there, and the intervals are too narrow by as much as
some people appear more than once.

What it cannot say: whether the model or the photos differ. A group photographed smiling less
would show the same gap under a perfect model; separating the two needs a reference signal
measured without our model (a face-mesh smile measure, the next step of issue 18).

Group labels are read here (and by ``read_utkface``) only: after the model has scored every
face, never as a model input, and never in any output of analysis or the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.datasets import AgeSet, DataKind, Seen
from affectlens.eval.faces import FaceMode, Progress, batched, load_faces, readable_faces
from affectlens.eval.intervals import wilson
from affectlens.models.calibration import Calibration
from affectlens.models.expression import ExpressionClassifier
from affectlens.types import AGE_BANDS, EXPRESSIONS, age_band

Interval = tuple[float, float]


@dataclass
class AuditScores:
    """Calibrated probabilities for the faces found, and each face's group labels (read from
    the file names by the evaluation, after the model has run)."""

    probs: np.ndarray  # (faces found, classes)
    ages: np.ndarray
    genders: np.ndarray
    races: np.ndarray
    people: np.ndarray | None  # a person id per face where the data has one
    missed_faces: int
    unreadable: list[Path] = field(default_factory=list)


def score_faces(dataset: AgeSet, classifier: ExpressionClassifier, calibration: Calibration,
                mode: FaceMode = FaceMode.crops, progress: Progress | None = None,
                people: list[str] | None = None) -> AuditScores:
    """The model sees the pixels only; the labels are joined to its output afterwards."""
    faces = readable_faces(dataset.root, load_faces(dataset.paths, classifier.template, mode,
                                                    progress=progress))
    probs = calibration.probabilities(batched(classifier.logits, faces.crops))
    kept = np.array(faces.kept)[faces.found]
    return AuditScores(
        probs[faces.found], np.array(dataset.ages)[kept], np.array(dataset.genders)[kept],
        np.array(dataset.races)[kept], None if people is None else np.array(people)[kept],
        int((~faces.found).sum()), faces.unreadable)


@dataclass
class GroupShares:
    name: str
    n: int
    mean_probability: dict[str, float]
    label_share: dict[str, float]
    label_share_ci: dict[str, Interval]  # Wilson 95%, by image


@dataclass
class Difference:
    """``group`` minus ``reference``, per class, with bootstrap 95% intervals."""

    group: str
    reference: str
    mean_probability: dict[str, float]
    mean_probability_ci: dict[str, Interval]
    label_share: dict[str, float]
    label_share_ci: dict[str, Interval]


@dataclass
class Grouping:
    name: str
    groups: list[GroupShares]
    reference: str  # the largest group: every difference is from it
    differences: list[Difference]


@dataclass
class DisparityReport:
    model: str
    data: str
    mode: str
    min_age: int
    faces: int
    missed_faces: int
    malformed_names: int
    resampled_by: str  # "person" or "image"
    temperature: float
    groupings: list[Grouping]
    unreadable_images: int = 0
    data_kind: str = DataKind.other.value
    seen_in_training: int | None = None
    trained_on: str = ""


def cluster_means(values: np.ndarray, clusters: np.ndarray, resamples: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(resamples, columns) means of ``values`` over bootstrap resamples of whole clusters
    (people, or images where each image is its own cluster)."""
    _, inverse = np.unique(clusters, return_inverse=True)
    count = int(inverse.max()) + 1
    draws = rng.multinomial(count, np.full(count, 1 / count), size=resamples)
    weights = draws[:, inverse].astype(np.float64)
    return weights @ values / weights.sum(1, keepdims=True)


def _by_class(values: np.ndarray) -> dict[str, float]:
    return {c: float(v) for c, v in zip(EXPRESSIONS, values)}


def _ci(samples: np.ndarray) -> dict[str, Interval]:
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {c: (float(a), float(b)) for c, a, b in zip(EXPRESSIONS, low, high)}


def grouping(name: str, keys: np.ndarray, probs: np.ndarray, clusters: np.ndarray,
             resamples: int, seed: int = 0) -> Grouping:
    """Shares per group and differences from the largest group, resampling each group's
    clusters independently."""
    labels = np.eye(len(EXPRESSIONS))[probs.argmax(1)]
    names = [k for k in dict.fromkeys(keys.tolist())]
    sizes = {k: int(np.sum(keys == k)) for k in names}
    reference = max(names, key=lambda k: (sizes[k], k))
    rng = np.random.default_rng(seed)
    groups, samples = [], {}
    for key in names:
        sel = keys == key
        counts = labels[sel].sum(0).astype(int)
        groups.append(GroupShares(
            str(key), sizes[key], _by_class(probs[sel].mean(0)),
            _by_class(labels[sel].mean(0)),
            {c: wilson(int(k), sizes[key]) for c, k in zip(EXPRESSIONS, counts)}))
        both = np.hstack([probs[sel], labels[sel]])
        samples[key] = cluster_means(both, clusters[sel], resamples, rng)
    k = len(EXPRESSIONS)
    differences = []
    for key, g in zip(names, groups):
        if key == reference:
            continue
        ref = next(r for r in groups if r.name == str(reference))
        delta = samples[key] - samples[reference]
        differences.append(Difference(
            g.name, ref.name,
            {c: g.mean_probability[c] - ref.mean_probability[c] for c in EXPRESSIONS},
            _ci(delta[:, :k]),
            {c: g.label_share[c] - ref.label_share[c] for c in EXPRESSIONS},
            _ci(delta[:, k:])))
    return Grouping(name, groups, str(reference), differences)


def audit(scores: AuditScores, *, model: str, data: str, mode: str, min_age: int,
          malformed: int, temperature: float, resamples: int = 1000,
          data_kind: DataKind = DataKind.other, seen: Seen | None = None) -> DisparityReport:
    """Per gender, race group and age band (faces of ``min_age`` and over)."""
    keep = scores.ages >= min_age
    if not keep.any():
        raise InputError(f"{data}: no face of {min_age} or over was found; lower --min-age")
    probs = scores.probs[keep]
    by_person = scores.people is not None
    clusters = scores.people[keep] if by_person else np.arange(int(keep.sum()))
    bands = np.array([age_band(a) for a in scores.ages[keep]])
    order = [b for b, _, _ in AGE_BANDS if np.any(bands == b)]
    groupings = [
        grouping("gender", scores.genders[keep], probs, clusters, resamples),
        grouping("race group", scores.races[keep], probs, clusters, resamples),
        grouping("age band", bands, probs, clusters, resamples),
    ]
    for g in groupings:  # a stable order on the card: by name (age bands in age order)
        rank = {b: i for i, b in enumerate(order)}
        g.groups.sort(key=lambda s: (rank.get(s.name, 0), s.name))
        g.differences.sort(key=lambda d: (rank.get(d.group, 0), d.group))
    return DisparityReport(
        model=model, data=data, mode=mode, min_age=min_age, faces=int(keep.sum()),
        missed_faces=scores.missed_faces, malformed_names=malformed,
        resampled_by="person" if by_person else "image", temperature=temperature,
        groupings=groupings, unreadable_images=len(scores.unreadable),
        data_kind=data_kind.value, seen_in_training=seen.images if seen else None,
        trained_on=seen.trained_on if seen else "")
