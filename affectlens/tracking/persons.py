"""Person tracking with ByteTrack (the same ``trackers`` package as faces).

Ids are local to one camera or video: "the same body as a moment ago", from box overlap and
motion only. No appearance features exist, so nobody can be matched across cameras or videos.
"""

from __future__ import annotations

import numpy as np

from affectlens.models.pose import PersonDetections
from affectlens.tracking.tracker import BoxTracker


class PersonTracker(BoxTracker):
    """update(people) -> one track id per person row (1, 2, 3... in order of appearance)."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float = 1.0,
                 min_score: float = 0.15) -> None:
        # Pose scores (mean keypoint confidence) run lower than detector scores: a lying person
        # scores 0.15-0.3. ByteTrack starts tracks only from "high" detections, so the split is
        # min_score too: someone already on the floor when the camera starts (or found again
        # after a track was lost) must get a track, or no long lie can ever be raised.
        super().__init__(analysis_fps, lost_track_seconds, activation=min_score,
                         high_confidence=min_score)

    def update(self, people: PersonDetections) -> np.ndarray:
        return self.track(people.boxes, people.scores)
