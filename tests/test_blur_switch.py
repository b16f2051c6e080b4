"""The per-camera face-blur switch (issue 6, item 4): on by default, also for cameras made
before it existed (migration 0005, both databases); only an admin turns it off, each change
is its own audit record, from the API or the site config; a real worker process then serves
unblurred pictures, every one with a "FACES NOT BLURRED" banner drawn in, and blurred ones
again (no face found, no banner) once it is back on."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from authutil import as_role
from fastapi.testclient import TestClient
from waiting import wait_until

from affectlens.models.face_detector import FaceDetector
from affectlens.privacy.blur import BANNER_TEXT, banner_height, not_blurred_banner
from affectlens.samples import write_sample_video
from affectlens.security.audit import AuditLog
from affectlens.service.api import create_app
from affectlens.service.hub import Hub
from affectlens.service.messages import EventClip, EventStarted, WorkerReady
from affectlens.service.recorder import Recorder
from affectlens.service.runtime import sync_cameras
from affectlens.service.site import CameraConfig
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store, migrate
from affectlens.store.db import MIGRATIONS, make_engine, sqlite_url
from affectlens.store.schema import Camera, Event

HALL = {"name": "hall", "url": "rtsp://127.0.0.1:8554/hall", "purpose": "care_safety"}


def blur_records(store: Store) -> list[tuple[str, str, dict]]:
    return [(r.actor, r.target, json.loads(r.detail)["changes"])
            for r in AuditLog(store).records(action="camera.blur_change")]


def test_existing_cameras_keep_blurring_through_migration_0005(url: str) -> None:
    migrate(url, "0004")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO cameras (name, url, purpose, analysis_fps, enabled, created_at) "
            "VALUES ('old', 'rtsp://h/x', 'care_safety', 5, true, CURRENT_TIMESTAMP)"))
    migrate(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT blur_faces FROM cameras")).scalar() in (
            True, 1)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.downgrade(config, "0004")  # and back: the down migration works on both databases
    with engine.connect() as connection:
        assert "blur_faces" not in {c["name"] for c in sa.inspect(connection).get_columns(
            "cameras")}
    engine.dispose()
    migrate(url)
    store = Store(url)
    try:
        (old,) = store.cameras()
        assert old.blur_faces is True
        assert store.add_camera("new", "rtsp://h/y", "care_safety").blur_faces is True
    finally:
        store.engine.dispose()


def test_only_an_admin_turns_blurring_off_and_each_change_is_audited(store: Store) -> None:
    app = create_app(store, Hub())
    admin, staff = as_role(store, app, "admin"), as_role(store, app, "staff")
    camera = admin.post("/api/cameras", json=HALL).json()
    assert camera["blur_faces"] is True
    path = f"/api/cameras/{camera['id']}"
    refused = staff.patch(path, json={"blur_faces": False})
    assert refused.status_code == 403 and "staff role may not" in refused.json()["detail"]
    assert store.camera(camera["id"]).blur_faces is True
    off = admin.patch(path, json={"blur_faces": False})
    assert off.status_code == 200 and off.json()["blur_faces"] is False
    assert staff.get(path).json()["blur_faces"] is False  # operators can see it is off
    admin.patch(path, json={"blur_faces": False, "analysis_fps": 2})  # no blur change
    admin.patch(path, json={"blur_faces": True, "purpose": "consented_research"})
    unblurred = admin.post("/api/cameras", json={**HALL, "name": "door",
                                                 "blur_faces": False}).json()
    assert unblurred["blur_faces"] is False
    cam, door = f"camera:{camera['id']}", f"camera:{unblurred['id']}"
    records = [(r.action, r.target) for r in AuditLog(store).all_records()]
    assert records == [
        ("camera.add", cam), ("camera.blur_change", cam), ("camera.change", cam),
        ("camera.blur_change", cam), ("camera.purpose_change", cam),
        ("camera.add", door), ("camera.blur_change", door)]
    assert [changes for _, _, changes in blur_records(store)] == [
        {"blur_faces": [True, False]}, {"blur_faces": [False, True]},
        {"blur_faces": [None, False]}]
    assert AuditLog(store).verify().ok
    # The dashboard and the rest of the API work as before.
    assert admin.get("/").status_code == 200
    assert {c["name"]: c["blur_faces"] for c in admin.get("/api/cameras").json()} == {
        "hall": True, "door": False}


def test_the_site_config_sets_blurring_and_its_changes_are_audited(store: Store) -> None:
    declared = CameraConfig(name="hall", url="rtsp://127.0.0.1/hall", purpose="care_safety",
                            blur_faces=False)
    sync_cameras(store, [declared])
    (camera,) = store.cameras()
    assert camera.blur_faces is False
    sync_cameras(store, [declared])  # unchanged: nothing new to record
    sync_cameras(store, [declared.model_copy(update={"blur_faces": True})])
    assert store.camera(camera.id).blur_faces is True
    assert blur_records(store) == [
        ("site-config", f"camera:{camera.id}", {"blur_faces": [None, False]}),
        ("site-config", f"camera:{camera.id}", {"blur_faces": [False, True]})]
    assert CameraConfig(name="x", url="rtsp://h/x", purpose="care_safety").blur_faces is True
    # Every other change made in the file is audited as through the API, passwords hidden.
    sync_cameras(store, [declared.model_copy(update={
        "blur_faces": True, "purpose": "consented_research", "analysis_fps": 2.0,
        "url": "rtsp://cam:s3cret@127.0.0.1/hall"})])
    records = [(r.actor, r.action, json.loads(r.detail)) for r in AuditLog(store).all_records()]
    assert [(actor, action) for actor, action, _ in records] == [
        ("site-config", "camera.add"), ("site-config", "camera.blur_change"),
        ("site-config", "camera.blur_change"), ("site-config", "camera.purpose_change"),
        ("site-config", "camera.change")]
    assert records[-2][2]["changes"] == {"purpose": ["care_safety", "consented_research"]}
    assert set(records[-1][2]["changes"]) == {"url", "analysis_fps"}
    assert "s3cret" not in json.dumps(records) and AuditLog(store).verify().ok


def banner_shown(image: np.ndarray) -> bool:
    """A red band across the top with white text in it."""
    band = image[:banner_height(image.shape[0])].reshape(-1, 3).astype(int)
    red = (band[:, 2] > 150) & (band[:, 0] < 80) & (band[:, 1] < 80)
    white = band.min(axis=1) > 160  # the letters, softened by JPEG
    return red.mean() > 0.6 and white.mean() > 0.01


def test_the_banner_is_drawn_into_the_top_of_a_copy(portrait: np.ndarray) -> None:
    marked = not_blurred_banner(portrait)
    band = banner_height(portrait.shape[0])
    assert banner_shown(marked) and not banner_shown(portrait)
    assert np.array_equal(marked[band:], portrait[band:])  # the rest is untouched
    assert not np.array_equal(marked[:band], portrait[:band])
    assert BANNER_TEXT == "FACES NOT BLURRED"


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_real_worker_serves_unblurred_frames_only_with_the_banner(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "blur.db"))
    clip = write_sample_video(tmp_path / "sample.mp4", seconds=2.0)
    camera = store.add_camera("hall", f"file://{clip}", "care_safety", blur_faces=False)
    hub = Hub()
    recorder = Recorder(store, hub=hub)

    def spec_for(c: Camera) -> CameraSpec:
        return CameraSpec(c.id, c.url, c.purpose, c.analysis_fps, preview_fps=4.0,
                          backoff_s=(0.3, 0.6), blur_faces=c.blur_faces)

    supervisor = Supervisor(store, recorder, spec_for, poll_s=0.3).start()
    detector = FaceDetector()
    app = create_app(store, hub)
    staff = as_role(store, app, "staff")
    try:
        first = wait_until(lambda: supervisor.workers().get(camera.id), 60)
        wait_until(lambda: hub.preview(camera.id), 30)
        served = staff.get(f"/api/cameras/{camera.id}/snapshot.jpg")
        assert served.status_code == 200
        image = decode(served.content)
        assert len(detector.predict([image])[0]) >= 1  # the face is there, unblurred
        assert banner_shown(image)
        # Back on: the running worker is given the setting (issue 14: not replaced), the
        # unblurred preview is withdrawn at once, and the previews that follow are blurred
        # and carry no banner.
        store.update_camera(camera.id, blur_faces=True)
        wait_until(lambda: (p := hub.preview(camera.id)) and not banner_shown(decode(p)), 30)
        assert supervisor.workers().get(camera.id) == first
        for _ in range(3):
            image = decode(TestClient(app, headers=staff.headers).get(
                f"/api/cameras/{camera.id}/snapshot.jpg").content)
            assert not banner_shown(image)
            assert len(detector.predict([image])[0]) == 0
            time.sleep(0.3)
        # Off again with a new stream: a new worker, whose pictures (a later generation of
        # the camera's settings) are shown; the old one's are not.
        other = write_sample_video(tmp_path / "other.mp4", seconds=2.0)
        store.update_camera(camera.id, blur_faces=False, url=f"file://{other}")
        wait_until(lambda: supervisor.workers().get(camera.id, first) != first, 30)
        wait_until(lambda: (p := hub.preview(camera.id)) and banner_shown(decode(p)), 30)
    finally:
        supervisor.stop()
        store.engine.dispose()


@pytest.mark.parametrize("blurring", [True, False])
def test_turning_blurring_back_on_drops_the_old_workers_pictures(
    store: Store, tmp_path: Path, portrait: np.ndarray, blurring: bool
) -> None:
    """After blurring is turned back on, an event snapshot or fall clip made under the old
    settings (blurring off) and still on its way is not kept; its events are. Turned off
    instead, the blurred pictures made before are kept. Pictures made under the new
    settings (a new worker, or the same one given them: generation 2) are kept."""
    camera = store.add_camera("hall", "file:///x", "care_safety")
    recorder = Recorder(store, snapshots=tmp_path)
    jpeg = cv2.imencode(".jpg", portrait)[1].tobytes()
    at = datetime.now(UTC)

    def fall(key: str, generation: int) -> Event:
        recorder.handle(EventStarted(camera.id, key, "fall", at, 0.9, 1, at, jpeg, clip=True,
                                     generation=generation))
        recorder.handle(EventClip(camera.id, key, b"\x1a\x45\xdf\xa3 video", 10, 1.0,
                                  generation=generation))
        return max(store.events(camera_id=camera.id), key=lambda e: e.id)

    recorder.withdraw_preview(camera.id, blurring=blurring, generation=2)
    old = fall("old-run:fall:1", 1)
    assert (old.snapshot is None and old.clip is None) if blurring else (old.snapshot and old.clip)
    recorder.handle(WorkerReady(camera.id, 1234, ("face_detector",)))
    new = fall("new-run:fall:1", 2)
    assert new.snapshot and new.clip
