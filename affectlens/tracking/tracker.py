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
REFERENCE_FPS = 30.0  # the frame rate trackers' lost_track_buffer is counted in


class BoxTracker:
    """ByteTrack over boxes and scores: one track id per row, numbered 1, 2, 3... in order of
    appearance within this source; UNTRACKED until a track is confirmed."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float, activation: float,
                 high_confidence: float | None = None) -> None:
        options = {} if high_confidence is None else {"high_conf_det_threshold": high_confidence}
        self._tracker = ByteTrackTracker(
            # trackers counts this buffer in frames at 30 fps and scales it by frame_rate / 30
            # itself: in our frames it would count the frame rate twice.
            lost_track_buffer=max(1, round(lost_track_seconds * REFERENCE_FPS)),
            frame_rate=analysis_fps,
            track_activation_threshold=activation,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=0.1,
            **options,
        )
        self._ids: dict[int, int] = {}

    def track(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        ids = np.full(len(boxes), UNTRACKED, np.int64)
        if not len(boxes):
            self._tracker.update(sv.Detections.empty())
            return ids
        detections = sv.Detections(
            xyxy=boxes.astype(np.float32),
            confidence=scores.astype(np.float32),
            data={"row": np.arange(len(boxes))},
        )
        tracked = self._tracker.update(detections)
        if len(tracked):
            ids[tracked.data["row"]] = [self._public_id(t) for t in tracked.tracker_id]
        return ids

    def _public_id(self, raw: int) -> int:
        if raw < 0:
            return UNTRACKED
        return self._ids.setdefault(int(raw), len(self._ids) + 1)


class FaceTracker(BoxTracker):
    """update(faces) -> one track id per face row."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float = 1.0) -> None:
        super().__init__(analysis_fps, lost_track_seconds, activation=0.5)

    def update(self, faces: FaceDetections) -> np.ndarray:
        return self.track(faces.boxes, faces.scores)
