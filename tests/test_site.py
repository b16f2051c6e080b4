"""The site config of `affectlens serve`: real YAML files, environment overrides, and mistakes
reported with the file, the field and what is wrong (exit status 2 from the command line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.service.runtime import sync_cameras
from affectlens.service.site import SiteConfigError, load_site
from affectlens.store import Store
from affectlens.store.db import sqlite_url

GOOD = """
database_url: data/site.db
port: 9000
log: {format: json}
cameras:
  - name: lounge
    url: rtsp://10.0.0.5/stream?transport=udp
    purpose: care_safety
    distress: {threshold: 0.7, hold_s: 15}
  - name: entrance
    url: file:///srv/loop.mp4
    purpose: anonymous_statistics
    analysis_fps: 2
alerts:
  webhooks: [{url: "https://alerts.example/hook", secret: "0123456789abcdef"}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_a_good_config_with_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    site = load_site(path, {"AFFECTLENS_PORT": "9100", "AFFECTLENS_LOG__LEVEL": "debug",
                            "AFFECTLENS_TEST_POSTGRES_URL": "ignored: not a setting",
                            "HOME": "/root"})
    assert site.port == 9100 and site.log.format == "json" and site.log.level == "debug"
    assert site.database_url == sqlite_url(tmp_path / "data" / "site.db")  # next to the file
    assert site.snapshots_dir == str(tmp_path / "snapshots")
    lounge = site.camera("lounge")
    assert lounge.distress.threshold == 0.7 and lounge.distress.hold_s == 15
    assert lounge.analysis_fps == 5.0 and site.camera("entrance").analysis_fps == 2
    assert site.analysis.threads == 1  # one model thread per worker: cameras use the cores
    url = "postgresql+psycopg://u:p@db/affectlens"
    assert load_site(path, {"AFFECTLENS_DATABASE_URL": url}).database_url == url
    assert load_site(write(tmp_path, ""), {}).cameras == []  # an empty file: all defaults
    policy = site.retention.policy()  # defaults, then a camera's own
    assert policy.of("lounge").events_days == 90 and policy.of("lounge").stats_days == 365
    kept = load_site(write(tmp_path, "retention: {cameras: {lounge: {snapshots_days: 3}}}\n"), {})
    assert kept.retention.policy().of("lounge").snapshots_days == 3
    assert kept.retention.policy().of("entrance").snapshots_days == 30
    tuned = load_site(write(tmp_path, "analysis: {min_face_px: 48}\n"), {})
    assert (tuned.analysis.min_face_px, tuned.analysis.threads) == (48, 1)


def test_a_fall_camera_defaults_to_ten_frames_a_second(tmp_path: Path) -> None:
    text = """
cameras:
  - {name: room, url: rtsp://h/room, purpose: care_safety, falls: {long_lie_s: 20}}
  - {name: slow, url: rtsp://h/slow, purpose: care_safety, falls: {}, analysis_fps: 4}
  - {name: hall, url: rtsp://h/hall, purpose: care_safety}
"""
    site = load_site(write(tmp_path, text), {})
    assert site.camera("room").analysis_fps == 10.0  # falls on, rate left out
    assert site.camera("room").falls.long_lie_s == 20
    assert site.camera("slow").analysis_fps == 4  # a rate given is kept
    assert site.camera("hall").analysis_fps == 5.0  # no falls: the general default



@pytest.mark.parametrize(("text", "environ", "expected"), [
    ("port: 80\n  host: [", {}, "site.yaml:2:7: not valid YAML"),
    ("- a\n- b\n", {}, "site.yaml: must be a mapping of settings (key: value), not a list"),
    ("camras: []\n", {}, "site.yaml: camras: unknown setting"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety}\n"
     "  - {name: b, url: 'ftp://h/s', purpose: care_safety}\n", {},
     "site.yaml: cameras[1].url: scheme must be one of rtsp, rtsps, http, https, file, "
     "device, not 'ftp'"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: staff_monitoring}\n", {},
     "site.yaml: cameras[0].purpose: Input should be 'care_safety', 'consented_research' or "
     "'anonymous_statistics'"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety,"
     " distress: {threshold: 1.5}}\n", {},
     "site.yaml: cameras[0].distress.threshold: Input should be less than 1"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety}\n"
     "  - {name: a, url: 'rtsp://h/t', purpose: care_safety}\n", {},
     "site.yaml: cameras: camera names must be unique: a"),
    ("alerts: {webhooks: [{url: 'https://x/h', secret: short}]}\n", {},
     "site.yaml: alerts.webhooks[0].secret: String should have at least 16 characters"),
    ("port: 8080\n", {"AFFECTLENS_PORT": "eighty"},
     "site.yaml: port (from AFFECTLENS_PORT): Input should be a valid integer"),
    ("log: {format: xml}\n", {}, "site.yaml: log.format: Input should be 'text' or 'json'"),
    ("retention: {cameras: {lounge: {events_days: 0}}}\n", {},
     "site.yaml: retention.cameras.lounge.events_days: Input should be greater than 0"),
    ("analysis: {purpose: anonymous_statistics}\n", {},
     "site.yaml: analysis: purpose: offline analysis settings, not read by live cameras; set "
     "cameras[].purpose"),
    ("analysis: {fps: 1, pose: false, max_image_side: 512}\n", {},
     "site.yaml: analysis: fps, max_image_side, pose: offline analysis settings, not read by "
     "live cameras"),
    ("tls: {certfile: cert.pem, keyfile: key.pem}\n", {},
     "site.yaml: tls.certfile: no such file"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety,"
     " falls: {clip_after_s: 120}}\n", {},
     "site.yaml: cameras[0].falls.clip_after_s: Input should be less than or equal to 30"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety, falls: {zones: ["
     "{name: bed, kind: bed, points: [[0, 0], [9, 0], [9, 9]]},"
     " {name: bed, kind: chair, points: [[0, 0], [5, 0], [5, 5]]}]}}\n", {},
     "site.yaml: cameras[0].falls.zones: zone names must be unique: bed"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety, falls: {zones: ["
     "{name: bed, kind: sofa, points: [[0, 0], [9, 0], [9, 9]]}]}}\n", {},
     "site.yaml: cameras[0].falls.zones[0].kind: Input should be 'bed', 'chair' or 'floor'"),
])
def test_mistakes_name_the_file_and_the_field(tmp_path: Path, text: str, environ: dict,
                                              expected: str) -> None:
    with pytest.raises(SiteConfigError) as raised:
        load_site(write(tmp_path, text), environ)
    assert str(raised.value).replace(str(tmp_path) + "/", "").startswith(expected), raised.value


def test_the_command_line_exits_2_with_the_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "missing.yaml: no such file" in result.output
    good = write(tmp_path, GOOD)
    result = CliRunner().invoke(app, ["serve", "--config", str(good), "--check"],
                                env={"AFFECTLENS_PORT": "9200"})
    assert result.exit_code == 0 and "site.yaml: ok, 2 cameras, serving on 127.0.0.1:9200" in (
        result.output)
    bad = write(tmp_path, "cameras:\n  - {name: a, url: 'nonsense', purpose: care_safety}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(bad)])
    assert result.exit_code == 2
    assert "site.yaml: cameras[0].url: scheme must be one of" in result.output


def test_declared_cameras_are_synced_by_name(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "s.db"))
    made_by_api = store.add_camera("garden", "rtsp://g/s", "care_safety")
    store.add_camera("lounge", "rtsp://old/s", "care_safety", 1.0)
    site = load_site(write(tmp_path, GOOD), {})
    sync_cameras(store, site.cameras)
    sync_cameras(store, site.cameras)  # a second start changes nothing
    cameras = {c.name: c for c in store.cameras()}
    assert set(cameras) == {"garden", "lounge", "entrance"}
    assert cameras["garden"].url == made_by_api.url  # not in the file: left alone
    assert (cameras["lounge"].url, cameras["lounge"].analysis_fps) == (
        "rtsp://10.0.0.5/stream?transport=udp", 5.0)
    assert cameras["entrance"].purpose == "anonymous_statistics"
    store.engine.dispose()
