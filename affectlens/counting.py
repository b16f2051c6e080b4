"""Counting people: the one meaning of "people" in offline ``statistics.csv`` and in the live
per-minute counts behind ``/api/screen`` and the dashboard's charts.

- **people**: face tracks (affectlens.tracking) seen in the time span, each counted once,
  however many frames it was seen on. A track starts on a face's second analysed frame in a
  row, so a face seen on one frame alone is no one. Tracks are not followed from one span to
  the next (nor across a worker's restart): a person who stays three minutes is three
  people in three per-minute rows, and summing rows sums person-spans, not different people.
- **people per age band**: each of those tracks once, in the band of the median of its age
  estimates in the span (one odd frame does not move a person into another band).
- **faces**: face-frames, every face on every analysed frame (one person on 50 frames is 50).
- **expressions** (live, where the purpose allows expression analysis): face-frames per
  dominant expression, as ``faces``.

Both sinks (``analysis._analyse_file`` and the live ``CameraLoop``) fill a ``Bucket`` per
span from the engine's per-frame face analysis; the minimum-group rule (k-anonymity) is the
sink's: ``result.statistics_row`` offline, ``/api/screen``'s ``min_people`` live.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import AGE_BANDS, FaceAnalysis, age_band


@dataclass
class Bucket:
    """What one time span of one source saw (see the module's docstring for each count)."""

    frames: int = 0
    faces: int = 0
    expressions: Counter[str] = field(default_factory=Counter)
    ages: dict[int, list[float]] = field(default_factory=dict)  # track id -> its age estimates

    def add(self, analysis: FaceAnalysis) -> None:
        """One analysed frame."""
        self.frames += 1
        self.faces += len(analysis)
        self.expressions.update(analysis.dominant)
        for track, age in zip(analysis.track_ids, analysis.ages):
            if track != UNTRACKED:
                self.ages.setdefault(int(track), []).append(float(age))

    @property
    def people(self) -> int:
        return len(self.ages)

    def bands(self) -> dict[str, int]:
        """People per age band (every band named, zeros included), by each track's median."""
        seen = Counter(age_band(float(np.median(ages))) for ages in self.ages.values())
        return {name: seen[name] for name, _, _ in AGE_BANDS}
