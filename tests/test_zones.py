"""Fall zones drawn in the dashboard (issue 5): the zones API on both databases (valid and bad
zones, who may change them, the audit log), the dashboard's zones replacing the site config's
in a real worker's settings (the supervisor restarts it), and previews that are smaller than
the analysed frame saying the frame's size."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from authutil import as_role
from waiting import wait_until

from affectlens.events.fall_settings import MAX_ZONE_POINTS, MAX_ZONES, FallSettings, Zone
from affectlens.samples import sample_frames, write_video
from affectlens.security.audit import AuditLog
from affectlens.service import runtime
from affectlens.service.api import create_app
from affectlens.service.camera_settings import falls_text
from affectlens.service.hub import Hub
from affectlens.service.site import SiteConfig
from affectlens.service.worker import PREVIEW_WIDTH, CameraWorker
from affectlens.service.zones import ZONES_CHANGE
from affectlens.store import Store
from affectlens.store.db import sqlite_url

SQUARE = [[10, 10], [110, 10], [110, 90], [10, 90]]
BED = {"name": "bed", "kind": "bed", "points": [[0, 200], [300, 200], [300, 360]]}
SITE_BED = Zone(name="site bed", kind="bed", points=((5, 5), (50, 5), (50, 50)))


def zone(name: str, kind: str = "chair", points: list | None = None) -> dict:
    return {"name": name, "kind": kind, "points": points or SQUARE}


def zones_audit(store: Store) -> list[tuple[str, str, dict]]:
    return [(r.actor, r.target, json.loads(r.detail)["changes"]["zones"])
            for r in AuditLog(store).records(action=ZONES_CHANGE)]


def test_zones_are_drawn_replace_the_site_configs_and_are_audited(store: Store) -> None:
    falls = falls_text(FallSettings(zones=(SITE_BED,)))  # as the site config sets them
    room = store.add_camera("room 12", "rtsp://127.0.0.1/12", "care_safety", falls=falls)
    hall = store.add_camera("hall", "rtsp://127.0.0.1/hall", "care_safety")
    counting = store.add_camera("door", "rtsp://127.0.0.1/door", "anonymous_statistics",
                                falls=falls)
    hub = Hub()
    app = create_app(store, hub)
    admin, staff, auditor, screen = (as_role(store, app, r)
                                     for r in ("admin", "staff", "auditor", "screen"))
    path = f"/api/cameras/{room.id}/zones"
    before = admin.get(path).json()
    assert before["source"] == "site_config" and before["falls"] is True
    assert before["zones"] == before["site_config_zones"] == [
        {"name": "site bed", "kind": "bed", "points": [[5, 5], [50, 5], [50, 50]],
         "inactivity_minutes": None}]
    assert before["frame_width"] is None  # no preview yet
    drawn = [BED, {**zone("armchair"), "inactivity_minutes": 30}]
    saved = admin.put(path, json={"zones": drawn})
    assert saved.status_code == 200, saved.text
    assert saved.json()["source"] == "dashboard" and "replace" in saved.json()["note"]
    assert [z["name"] for z in saved.json()["zones"]] == ["bed", "armchair"]
    assert saved.json()["zones"][1]["inactivity_minutes"] == 30
    assert saved.json()["site_config_zones"] == before["site_config_zones"]
    for reader in (staff, auditor):  # read-only for everyone but an admin
        assert reader.get(path).json()["zones"] == saved.json()["zones"]
        assert reader.put(path, json={"zones": []}).status_code == 403
    assert screen.get(path).status_code == 403
    hub.set_preview(room.id, b"\xff\xd8 blurred", (1280, 720))  # a preview made smaller
    assert (admin.get(path).json()["frame_width"], admin.get(path).json()["frame_height"]) == (
        1280, 720)
    cleared = admin.put(path, json={"zones": []}).json()  # the site config's apply again
    assert cleared["source"] == "site_config" and cleared["zones"] == before["zones"]
    assert store.camera(room.id).zones is None
    # No falls for this camera in the site config: the zones are kept; falls stay off.
    kept = admin.put(f"/api/cameras/{hall.id}/zones", json={"zones": [BED]}).json()
    assert kept["source"] == "dashboard" and kept["falls"] is False
    assert "falls are off" in kept["note"] and kept["site_config_zones"] == []
    assert admin.get(f"/api/cameras/{hall.id}/zones").json()["zones"] == kept["zones"]
    counted = admin.get(f"/api/cameras/{counting.id}/zones").json()
    assert counted["falls"] is False and "anonymous_statistics" in counted["note"]
    assert admin.get("/api/cameras/999999/zones").status_code == 404
    assert admin.put("/api/cameras/999999/zones", json={"zones": []}).status_code == 404
    room_key, hall_key = f"camera:{room.id}", f"camera:{hall.id}"
    bed = {**BED, "inactivity_minutes": None}
    assert zones_audit(store) == [
        ("token:1:test-admin", room_key, [None, [bed, {**zone("armchair"),
                                                       "inactivity_minutes": 30}]]),
        ("token:1:test-admin", room_key, [[bed, {**zone("armchair"),
                                                 "inactivity_minutes": 30}], None]),
        ("token:1:test-admin", hall_key, [None, [bed]]),
    ]
    assert AuditLog(store).verify().ok


BAD_BODIES = [  # (raw JSON body, the field its 422 must name)
    (json.dumps({"zones": [zone("a", points=[[0, 0], [5, 5]])]}), "zones.0.points"),
    ('{"zones": [{"name": "a", "kind": "bed", "points": [[NaN, 1], [2, 3], [4, 5]]}]}',
     "zones.0.points.0.0"),
    ('{"zones": [{"name": "a", "kind": "bed", "points": [[1, 1], [Infinity, 3], [4, 5]]}]}',
     "zones.0.points.1.0"),
    (json.dumps({"zones": [zone("a", points=[[1, -1], [2, 3], [4, 5]])]}), "zones.0.points.0.1"),
    (json.dumps({"zones": [zone("a", points=[[1, 1], [2, 1e9], [4, 5]])]}), "zones.0.points.1.1"),
    (json.dumps({"zones": [zone("a", points=[["x", 1], [2, 3], [4, 5]])]}), "zones.0.points.0.0"),
    (json.dumps({"zones": [zone("a", points=[[1, 1, 1], [2, 3], [4, 5]])]}), "zones.0.points.0"),
    (json.dumps({"zones": [zone("a", kind="sofa")]}), "zones.0.kind"),
    (json.dumps({"zones": [zone("")]}), "zones.0.name"),
    (json.dumps({"zones": [zone("twice"), zone("twice", "bed")]}), "zones"),
    (json.dumps({"zones": [zone(f"z{i}") for i in range(MAX_ZONES + 1)]}), "zones"),
    (json.dumps({"zones": [zone("a", points=[[i, i % 7] for i in range(MAX_ZONE_POINTS + 1)])]}),
     "zones.0.points"),
    (json.dumps({"zones": [{**zone("a"), "danger_score": 1}]}), "zones.0.danger_score"),
    (json.dumps({"zones": [{**zone("a"), "inactivity_minutes": 0}]}),
     "zones.0.inactivity_minutes"),
    (json.dumps([zone("a")]), ""),  # a bare list, not {"zones": [...]}
    (json.dumps({}), "zones"),
    ('{"zones": [', "11"),  # not JSON: the 422 names where it breaks off
]


def test_bad_zones_are_422_naming_the_field_and_lose_nothing(store: Store) -> None:
    camera = store.add_camera("room 12", "rtsp://127.0.0.1/12", "care_safety")
    admin = as_role(store, create_app(store, Hub()), "admin")
    path = f"/api/cameras/{camera.id}/zones"
    assert admin.put(path, json={"zones": [BED]}).status_code == 200
    kept = admin.get(path).json()
    for body, field in BAD_BODIES:
        answer = admin.put(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, (body, answer.text)
        fields = [".".join(str(p) for p in e["loc"][1:]) for e in answer.json()["detail"]]
        assert field in fields, (body, fields)
        assert admin.get(path).json() == kept, body
    assert len(zones_audit(store)) == 1  # refusals change nothing, so nothing is recorded


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> runtime.Service:
    """The service as `affectlens serve` builds it (logging left to pytest): a camera with
    falls and zones in its site config, one without falls, both with streams that are not
    there yet (workers load their models and wait: no frames to analyse)."""
    monkeypatch.setattr(runtime, "setup_logging", lambda *_: None)
    site = SiteConfig.model_validate({
        "database_url": sqlite_url(tmp_path / "site.db"), "snapshots_dir": str(tmp_path),
        "workers": {"poll_s": 0.3},
        "cameras": [
            {"name": "room 12", "url": f"file://{tmp_path / 'none.mp4'}",
             "purpose": "care_safety",
             "falls": {"long_lie_s": 60, "zones": [SITE_BED.model_dump(mode="json")]}},
            {"name": "hall", "url": f"file://{tmp_path / 'none.mp4'}", "purpose": "care_safety",
             "enabled": False}]})
    service = runtime.Service(site)
    yield service
    service.store.engine.dispose()


def test_zones_saved_through_the_api_reach_the_running_worker(
    service: runtime.Service, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "affectlens.service.supervisor")
    store = service.store
    room, hall = (next(c for c in store.cameras() if c.name == n) for n in ("room 12", "hall"))
    admin = as_role(store, service.app, "admin")
    assert service.spec_for(room).falls.zones == (SITE_BED,)
    service.supervisor.start()
    try:
        first = wait_until(lambda: service.supervisor.workers().get(room.id), 60)
        assert admin.put(f"/api/cameras/{room.id}/zones",
                         json={"zones": [BED]}).status_code == 200
        # The API told the supervisor; the running worker is given the new zones (issue 14:
        # not restarted, so open events and a long lie's clock go on).
        wait_until(lambda: f"camera {room.id}: changed; settings pushed" in caplog.text, 30)
        assert service.supervisor.workers().get(room.id) == first
        assert "stopping its worker" not in caplog.text
    finally:
        service.supervisor.stop()
    falls = service.spec_for(store.camera(room.id)).falls
    assert falls.zones == (Zone.model_validate(BED),)  # the dashboard's, in place of the file's
    assert falls.long_lie_s == 60  # the rest of the camera's falls settings stay the file's
    admin.put(f"/api/cameras/{hall.id}/zones", json={"zones": [BED]})
    assert service.spec_for(store.camera(hall.id)).falls is None  # no falls: zones kept only
    admin.put(f"/api/cameras/{room.id}/zones", json={"zones": []})
    assert service.spec_for(store.camera(room.id)).falls.zones == (SITE_BED,)


def test_a_preview_smaller_than_the_frame_names_the_frames_size(
    store: Store, pipeline_for, tmp_path: Path
) -> None:
    """Zones are in the analysed frame's pixels; a 1280x720 camera's previews are 640 wide."""
    big = [cv2.resize(image, (1280, 720)) for image, _ in sample_frames(3.0, 10)]
    clip = write_video(tmp_path / "wide.mp4", big, 10)
    camera = store.add_camera("wide", "file:///clip", "care_safety")
    hub = Hub()
    worker = CameraWorker(camera.id, f"file://{clip}", store, pipeline_for(), analysis_fps=4,
                          hub=hub).start()
    try:
        jpeg = wait_until(lambda: hub.preview(camera.id), 20)
    finally:
        worker.stop()
    preview = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert preview.shape[:2] == (360, PREVIEW_WIDTH)
    assert hub.frame_size(camera.id) == (1280, 720)
