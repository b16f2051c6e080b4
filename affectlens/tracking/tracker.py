"""Face tracking with Roboflow's ByteTrack (the ``trackers`` package).

Track ids are numbers local to one video: they say "the same face as a moment ago", never who
it is. No appearance features are computed, so nothing here could match a face across videos.
"""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from affectlens.types import FaceDetections

UNTRACKED = -1


class FaceTracker:
    """update(faces) -> one track id per face row; UNTRACKED until a track is confirmed."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float = 1.0) -> None:
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_track_seconds * analysis_fps)),
            frame_rate=analysis_fps,
            track_activation_threshold=0.5,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=0.1,
        )
        self._ids: dict[int, int] = {}

    def update(self, faces: FaceDetections) -> np.ndarray:
        rows = np.arange(len(faces))
        detections = sv.Detections(
            xyxy=faces.boxes.astype(np.float32),
            confidence=faces.scores.astype(np.float32),
            data={"row": rows},
        )
        tracked = self._tracker.update(detections)
        ids = np.full(len(faces), UNTRACKED, np.int64)
        if len(tracked):
            ids[tracked.data["row"]] = [self._public_id(t) for t in tracked.tracker_id]
        return ids

    def _public_id(self, raw: int) -> int:
        """Ids numbered 1, 2, 3... in order of appearance within this video."""
        if raw < 0:
            return UNTRACKED
        return self._ids.setdefault(int(raw), len(self._ids) + 1)
