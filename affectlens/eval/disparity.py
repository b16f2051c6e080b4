"""Disparity audit of the expression model: does it read some groups of people differently?

No expression labels are needed: over faces whose file names carry group labels (UTKFace's
``<age>_<gender>_<race>_<date>``), it reports per group the mean calibrated probability of each
class and the share of faces given each label, and each group's difference from the largest
group, with bootstrap intervals. Resampling is by person where the data says who is who (a
``people`` id per image), so one person's many photos cannot narrow an interval; UTKFace says
nothing of who is who, so it is by image there, and the intervals are too narrow by as much as
some people appear more than once.

A raw gap cannot say whether the model or the photos differ: a group photographed smiling
less would show the same gap under a perfect model. So where the faces are crops, each is also
given a reference measured without our model (``eval/smile.py``: mouth-corner geometry from
MediaPipe's face mesh), and the differences are given again at equal reference (in the manner
of Rhue 2018): within each fifth of the reference's range, weighted by the share of all faces
in that fifth (direct standardisation), so every group is compared as if its faces smiled as
much as everyone's.

Group labels are read here (and by ``read_utkface``) only: after the model has scored every
face, never as a model input, and never in any output of analysis or the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.datasets import AgeSet, DataKind, Seen
from affectlens.eval.faces import (
    FaceMode,
    Progress,
    batched,
    load_faces,
    read_image,
    readable_faces,
)
from affectlens.eval.intervals import wilson
from affectlens.eval.smile import smile_scores
from affectlens.models.calibration import Calibration
from affectlens.models.expression import ExpressionClassifier
from affectlens.types import AGE_BANDS, EXPRESSIONS, age_band

Interval = tuple[float, float]
# A group is compared at equal smile only with at least this many faces with a reference
# (about ten a fifth): with fewer, a fifth holds one or two faces and its mean, weighted as
# a fifth of everyone, says little while its resamples look sure.
MIN_REFERENCE_FACES = 50


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
    reference: np.ndarray | None = None  # the smile reference per face (NaN: none measured)


def score_faces(dataset: AgeSet, classifier: ExpressionClassifier, calibration: Calibration,
                mode: FaceMode = FaceMode.crops, progress: Progress | None = None,
                people: list[str] | None = None, reference: bool = False,
                reference_progress: Progress | None = None) -> AuditScores:
    """The model sees the pixels only; the labels are joined to its output afterwards.
    ``reference`` (crops only): the smile reference of each face too (``eval/smile.py``;
    ``reference_progress`` hears each face measured)."""
    faces = readable_faces(dataset.root, load_faces(dataset.paths, classifier.template, mode,
                                                    progress=progress))
    probs = calibration.probabilities(batched(classifier.logits, faces.crops))
    kept = np.array(faces.kept)[faces.found]
    smiles = None
    if reference:
        if mode != FaceMode.crops:
            raise ValueError("the smile reference is measured on face crops (--mode crops)")
        smiles = smile_scores((read_image(dataset.paths[i]) for i in kept),
                              progress=reference_progress)
    return AuditScores(
        probs[faces.found], np.array(dataset.ages)[kept], np.array(dataset.genders)[kept],
        np.array(dataset.races)[kept], None if people is None else np.array(people)[kept],
        int((~faces.found).sum()), faces.unreadable, smiles)


@dataclass
class GroupShares:
    name: str
    n: int
    mean_probability: dict[str, float]
    label_share: dict[str, float]
    label_share_ci: dict[str, Interval]  # Wilson 95%, by image
    mean_reference: float | None = None  # the smile reference's mean (faces that have one)


@dataclass
class Difference:
    """``group`` minus ``reference``, per class, with bootstrap 95% intervals."""

    group: str
    reference: str
    mean_probability: dict[str, float]
    mean_probability_ci: dict[str, Interval]
    label_share: dict[str, float]
    label_share_ci: dict[str, Interval]
    # The same at equal smile reference (None without a reference), and its difference.
    equal_reference_label_share: dict[str, float] | None = None
    equal_reference_label_share_ci: dict[str, Interval] | None = None
    equal_reference_mean_probability: dict[str, float] | None = None
    equal_reference_mean_probability_ci: dict[str, Interval] | None = None
    reference_difference: float | None = None
    reference_difference_ci: Interval | None = None


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
    reference_faces: int = 0  # faces with a smile reference (0: none was measured)
    unreadable_images: int = 0
    data_kind: str = DataKind.other.value
    seen_in_training: int | None = None
    trained_on: str = ""


def cluster_weights(clusters: np.ndarray, resamples: int, rng: np.random.Generator
                    ) -> np.ndarray:
    """(resamples, faces) how often each face is drawn when whole clusters (people, or
    images where each image is its own cluster) are resampled."""
    _, inverse = np.unique(clusters, return_inverse=True)
    count = int(inverse.max()) + 1
    draws = rng.multinomial(count, np.full(count, 1 / count), size=resamples)
    return draws[:, inverse].astype(np.float64)


def cluster_means(values: np.ndarray, clusters: np.ndarray, resamples: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(resamples, columns) means of ``values`` over bootstrap resamples of whole clusters."""
    weights = cluster_weights(clusters, resamples, rng)
    return weights @ values / weights.sum(1, keepdims=True)


def standardised(values: np.ndarray, strata: np.ndarray, share: np.ndarray,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Means of ``values`` within each stratum (0..S-1; -1: no reference, left out),
    weighted by ``share`` (S,): per resample row of ``weights`` (R, faces), or once
    (weights None: every face once). A stratum the faces do not reach is left out and the
    others' shares scaled up; NaN where none is reached."""
    w = np.ones((1, len(values))) if weights is None else weights
    total = np.zeros((len(w), values.shape[1]))
    used = np.zeros((len(w), 1))
    for s, part in enumerate(share):
        sel = strata == s
        mass = w[:, sel].sum(1, keepdims=True)
        means = (w[:, sel] @ values[sel]) / np.where(mass > 0, mass, 1)
        reached = (mass > 0).astype(np.float64)
        total += part * means * reached
        used += part * reached
    out = np.where(used > 0, total / np.where(used > 0, used, 1), np.nan)
    return out[0] if weights is None else out


def _by_class(values: np.ndarray) -> dict[str, float]:
    return {c: float(v) for c, v in zip(EXPRESSIONS, values)}


def _ci(samples: np.ndarray) -> dict[str, Interval]:
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {c: (float(a), float(b)) for c, a, b in zip(EXPRESSIONS, low, high)}


def grouping(name: str, keys: np.ndarray, probs: np.ndarray, clusters: np.ndarray,
             resamples: int, seed: int = 0, reference: np.ndarray | None = None,
             strata: int = 5) -> Grouping:
    """Shares per group and differences from the largest group, resampling each group's
    clusters independently; with ``reference`` (per face, NaN: none), the differences again
    at equal reference (the module says how), over ``strata`` equal fifths (or parts) of it."""
    labels = np.eye(len(EXPRESSIONS))[probs.argmax(1)]
    names = [k for k in dict.fromkeys(keys.tolist())]
    sizes = {k: int(np.sum(keys == k)) for k in names}
    reference_group = max(names, key=lambda k: (sizes[k], k))
    rng = np.random.default_rng(seed)
    both = np.hstack([probs, labels])
    if reference is not None:
        level, share = _strata(reference, strata)
    groups, samples, equal, draws, counted = [], {}, {}, {}, {}
    for key in names:
        sel = keys == key
        counts = labels[sel].sum(0).astype(int)
        weights = cluster_weights(clusters[sel], resamples, rng)
        samples[key] = weights @ both[sel] / weights.sum(1, keepdims=True)
        mean_reference = None
        if reference is not None:
            smile = reference[sel]
            known = ~np.isnan(smile)
            counted[key] = int(known.sum())
            mean_reference = float(smile[known].mean()) if known.any() else None
            equal[key] = standardised(both[sel], level[sel], share)
            mass = np.maximum(weights[:, known].sum(1, keepdims=True), 1e-12)
            draws[key] = np.hstack([standardised(both[sel], level[sel], share, weights),
                                    weights[:, known] @ smile[known, None] / mass])
        groups.append(GroupShares(
            str(key), sizes[key], _by_class(probs[sel].mean(0)),
            _by_class(labels[sel].mean(0)),
            {c: wilson(int(k), sizes[key]) for c, k in zip(EXPRESSIONS, counts)},
            mean_reference))
    k = len(EXPRESSIONS)
    differences = []
    ref = next(r for r in groups if r.name == str(reference_group))
    for key, g in zip(names, groups):
        if key == reference_group:
            continue
        delta = samples[key] - samples[reference_group]
        difference = Difference(
            g.name, ref.name,
            {c: g.mean_probability[c] - ref.mean_probability[c] for c in EXPRESSIONS},
            _ci(delta[:, :k]),
            {c: g.label_share[c] - ref.label_share[c] for c in EXPRESSIONS},
            _ci(delta[:, k:]))
        if key in equal and min(counted[key], counted[reference_group]) >= MIN_REFERENCE_FACES:
            point = equal[key] - equal[reference_group]
            spread = draws[key] - draws[reference_group]
            difference.equal_reference_mean_probability = _by_class(point[:k])
            difference.equal_reference_mean_probability_ci = _ci(spread[:, :k])
            difference.equal_reference_label_share = _by_class(point[k:])
            difference.equal_reference_label_share_ci = _ci(spread[:, k:2 * k])
            difference.reference_difference = g.mean_reference - ref.mean_reference
            low, high = np.nanpercentile(spread[:, -1], [2.5, 97.5])
            difference.reference_difference_ci = (float(low), float(high))
        differences.append(difference)
    return Grouping(name, groups, str(reference_group), differences)


def _strata(reference: np.ndarray, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Each face's part of the reference's range (equal shares of the faces that have one;
    -1: none), and each part's share of those faces."""
    known = ~np.isnan(reference)
    level = np.full(len(reference), -1)
    if not known.any():
        return level, np.zeros(0)
    edges = np.quantile(reference[known], np.linspace(0, 1, parts + 1)[1:-1])
    level[known] = np.searchsorted(edges, reference[known], side="right")
    share = np.bincount(level[known], minlength=parts) / known.sum()
    return level, share


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
    smiles = None if scores.reference is None else scores.reference[keep]
    groupings = [
        grouping("gender", scores.genders[keep], probs, clusters, resamples, reference=smiles),
        grouping("race group", scores.races[keep], probs, clusters, resamples,
                 reference=smiles),
        grouping("age band", bands, probs, clusters, resamples, reference=smiles),
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
        trained_on=seen.trained_on if seen else "",
        reference_faces=0 if smiles is None else int((~np.isnan(smiles)).sum()))
