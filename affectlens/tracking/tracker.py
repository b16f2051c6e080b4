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
        self._ids: dict[int, int] = {}  # trackers' id -> ours, for tracks that may come back
        self._seen: dict[int, int] = {}  # trackers' id -> the frame it was last returned in
        self._frame = 0
        self._issued = 0
        # A track unseen longer than this never comes back (trackers drops it): its entry goes,
        # so that a camera running for months does not keep one per face it ever saw.
        self._forget_after = max(1, round(lost_track_seconds * analysis_fps)) + 2

    def track(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self._frame += 1
        if self._frame % 100 == 0:
            gone = [raw for raw, at in self._seen.items()
                    if self._frame - at > self._forget_after]
            for raw in gone:
                del self._seen[raw], self._ids[raw]
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
        raw = int(raw)
        self._seen[raw] = self._frame
        if raw not in self._ids:
            self._issued += 1
            self._ids[raw] = self._issued
        return self._ids[raw]


class FaceTracker(BoxTracker):
    """update(faces) -> one track id per face row."""

    def __init__(self, analysis_fps: float, lost_track_seconds: float = 1.0) -> None:
        super().__init__(analysis_fps, lost_track_seconds, activation=0.5)

    def update(self, faces: FaceDetections) -> np.ndarray:
        return self.track(faces.boxes, faces.scores)
