"""Person tracking with ByteTrack (the same ``trackers`` package as faces).

Ids are local to one camera or video: "the same body as a moment ago", from box overlap and
motion only. No appearance features exist, so nobody can be matched across cameras or videos.
"""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from affectlens.models.pose import PersonDetections

UNTRACKED = -1


class PersonTracker:
    """update(people) -> one track id per person row (1, 2, 3... in order of appearance)."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float = 1.0,
                 min_score: float = 0.15) -> None:
        # Pose scores (mean keypoint confidence) run lower than detector scores: a lying person
        # scores 0.15-0.3, so activation and the high/low split are set from that range.
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_track_seconds * analysis_fps)),
            frame_rate=analysis_fps,
            track_activation_threshold=min_score,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=0.1,
            high_conf_det_threshold=0.3,
        )
        self._ids: dict[int, int] = {}

    def update(self, people: PersonDetections) -> np.ndarray:
        ids = np.full(len(people), UNTRACKED, np.int64)
        if not len(people):
            self._tracker.update(sv.Detections.empty())
            return ids
        detections = sv.Detections(
            xyxy=people.boxes.astype(np.float32),
            confidence=people.scores.astype(np.float32),
            data={"row": np.arange(len(people))},
        )
        tracked = self._tracker.update(detections)
        if len(tracked):
            ids[tracked.data["row"]] = [self._public_id(t) for t in tracked.tracker_id]
        return ids

    def _public_id(self, raw: int) -> int:
        if raw < 0:
            return UNTRACKED
        return self._ids.setdefault(int(raw), len(self._ids) + 1)
