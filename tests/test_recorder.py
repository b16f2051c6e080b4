"""The Recorder keeps no event picture that no stored event names: retention deletes pictures
through their events' rows, so an orphan would stay on disk for ever."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from affectlens.privacy.retention import remove_camera_media
from affectlens.service.messages import EventStarted
from affectlens.service.recorder import Recorder
from affectlens.store import Store


def test_a_snapshot_whose_event_cannot_be_stored_is_not_kept(store: Store, tmp_path: Path,
                                                             portrait: np.ndarray) -> None:
    snapshots = tmp_path / "snapshots"
    recorder = Recorder(store, snapshots=snapshots)
    camera = store.add_camera("hall", "file:///x", "care_safety")
    jpeg = cv2.imencode(".jpg", portrait)[1].tobytes()
    at = datetime.now(UTC)
    recorder.handle(EventStarted(camera.id, "run:fall:1", "fall", at, 0.9, 1, at, jpeg))
    (kept,) = [p for p in snapshots.rglob("*") if p.is_file()]
    (event,) = store.events(camera_id=camera.id)
    assert event.snapshot == str(kept.relative_to(snapshots))
    store.delete_camera(camera.id)  # deleted (as the API does: row, then media) while its
    assert remove_camera_media(snapshots, camera.id) == 1  # worker's last event was on its way
    recorder.handle(EventStarted(camera.id, "run:fall:2", "fall", at, 0.9, 2, at, jpeg))
    assert [p for p in snapshots.rglob("*") if p.is_file()] == []  # both gone with the camera
