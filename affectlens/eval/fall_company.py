"""A second person in view: someone beside the person who falls (issue 13, item 2).

A care home's camera rarely sees one person alone: a carer walks in, kneels beside someone,
helps them up; residents sit and stand nearby. The pose sequences we have show one person
each, so the second person is made from them: every recording of a dataset is played with a
*companion*, one of the daily-activity recordings (the dataset's own, cycled; a dataset with
none, UP-Fall, borrows the others', scaled to its frame), moved sideways by
``COMPANION_OFFSET`` of the frame's width (to the side with more room), starting with the
recording, cut at its end, or holding its last frame if it ends first. Each person is its
own track, as the tracker would make them. What is counted, per recording:

- the faller's fall: caught on the faller's own track, as alone;
- a fall raised on the companion's track (a daily activity): a false alarm, which is set
  beside whether the companion alone raised one over the same frames, so that what the
  company itself changes shows;
- a fall on a daily-activity recording's own person: a false alarm, as alone.

What it does not simulate: the companion's joints and the faller's never occlude each other
or swap between tracks (the pose model and the tracker may do both), and the companion does
not walk to where the faller lies. A borrowed companion (UP-Fall's) may be one the
classifier was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectlens.eval.fall_datasets import FallDataset
from affectlens.eval.fall_lodo import Detector, LogisticDetector, Rate, recordings_of
from affectlens.eval.falls import PoseSequence, rule_detects_fall
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_settings import FallSettings
from affectlens.vocabulary import EventKind

COMPANION_OFFSET = 0.3  # of the frame's width
PERSON, COMPANION = 1, 2  # track ids


def companion_at(companion: PoseSequence, since_start_s: np.ndarray) -> np.ndarray:
    """The companion's body at each time since both recordings began: its frame at or before
    that time, its last one held once its recording has ended (someone who stays where they
    are; vanishing mid-bend would be a person lost from view on the way down)."""
    own = companion.times - companion.times[0]
    index = np.searchsorted(own, since_start_s + 1e-6, side="right") - 1
    return companion.bodies[np.clip(index, 0, len(own) - 1)]


def moved_beside(companion: PoseSequence, size: tuple[float, float],
                 from_size: tuple[float, float], offset: float = COMPANION_OFFSET
                 ) -> PoseSequence:
    """The companion in a frame of ``size`` (scaled from its own ``from_size``) and moved
    sideways by ``offset`` of the width, to the side with more room."""
    bodies = companion.bodies.copy()
    factor = min(size[0] / from_size[0], size[1] / from_size[1])
    bodies[..., :2] *= factor
    seen = bodies[..., 2] > 0
    middle = float(np.median(bodies[..., 0][seen])) if seen.any() else size[0] / 2
    shift = offset * size[0] * (1 if middle < size[0] / 2 else -1)
    bodies[..., 0] += shift
    return PoseSequence(companion.name, companion.label, companion.times, bodies)


def fallen_tracks(detector: Detector, settings: FallSettings | None, person: PoseSequence,
                  companion: PoseSequence | None, people: tuple[int, ...] = (PERSON, COMPANION)
                  ) -> set[int]:
    """The tracks the whole rule raised a fall for, over ``person``'s frames: ``people`` says
    who is in view (the person, the companion beside them, or both)."""
    streams = [(PERSON, person.bodies)] if PERSON in people else []
    if companion is not None and COMPANION in people:
        streams.append((COMPANION, companion_at(companion, person.times - person.times[0])))
    ids = np.array([track for track, _ in streams])
    frames = np.stack([bodies for _, bodies in streams], axis=1)  # (T, people, 11, 3)
    rule = detector.rule(settings)
    fell: set[int] = set()
    for t, bodies in zip(person.times, frames):
        fell |= {int(e.track_id) for e in rule.update(float(t), ids, bodies)
                 if e.kind == EventKind.FALL and e.track_id is not None}
    return fell


@dataclass
class CompanyResult:
    """One dataset played with companions, beside the same recordings alone."""

    dataset: str
    falls_caught: Rate  # the faller's own fall, with company
    falls_caught_alone: Rate
    recordings: int  # played with a companion
    companion_falls: int  # recordings where the companion (a daily activity) got a fall
    companion_falls_alone: int  # the same, the companion alone over the same frames
    daily_false: int  # daily-activity recordings whose own person got a fall, with company
    daily_false_alone: int
    daily: int
    changed: list[str]  # recordings whose outcome the company changed


def score_with_company(dataset: FallDataset, model: FallClassifier | Detector,
                       companions: list[tuple[PoseSequence, tuple[float, float]]],
                       settings: FallSettings | None = None, offset: float = COMPANION_OFFSET
                       ) -> CompanyResult:
    """Every recording of ``dataset`` (its trusted ones) with a companion, and alone.
    ``companions``: daily-activity recordings and their frame sizes, used in turn;
    ``offset``: how far beside, a share of the frame's width."""
    if not companions:
        raise ValueError("no daily-activity recording to play as a companion")
    detector = LogisticDetector(model) if isinstance(model, FallClassifier) else model
    wholes = recordings_of(dataset.ordered())
    caught = caught_alone = daily_false = daily_false_alone = company = company_alone = 0
    changed: list[str] = []
    for n, whole in enumerate(wholes):
        index = n % len(companions)
        companion, from_size = companions[index]
        if companion.name == whole.name:  # never a recording beside itself
            index = (index + 1) % len(companions)
            companion, from_size = companions[index]
        beside = moved_beside(companion, dataset.size, from_size, offset)
        together = fallen_tracks(detector, settings, whole, beside)
        alone = rule_detects_fall(detector.rule(settings), whole)
        # The companion alone over the same frames (held at its end alike).
        companion_alone = COMPANION in fallen_tracks(detector, settings, whole, beside,
                                                     people=(COMPANION,))
        own = PERSON in together
        if whole.label:
            caught += own
            caught_alone += alone
        else:
            daily_false += own
            daily_false_alone += alone
        company += COMPANION in together
        company_alone += companion_alone
        if own != alone or (COMPANION in together) != companion_alone:
            changed.append(f"{whole.name.split('+')[0]} with {companion.name.split('+')[0]}")
    falls = int(sum(w.label for w in wholes))
    return CompanyResult(dataset.name, Rate(caught, falls), Rate(caught_alone, falls),
                         len(wholes), company, company_alone, daily_false, daily_false_alone,
                         len(wholes) - falls, changed)


def companions_for(dataset: FallDataset, others: list[FallDataset]
                   ) -> list[tuple[PoseSequence, tuple[float, float]]]:
    """The dataset's own daily-activity recordings; where it has none, the others'."""
    sources = [dataset] if dataset.has_negatives else [d for d in others if d.has_negatives]
    return [(w, d.size) for d in sources for w in recordings_of(d.ordered()) if not w.label]
