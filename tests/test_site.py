"""The site config of `affectlens serve`: real YAML files, environment overrides, and mistakes
reported with the file, the field and what is wrong (exit status 2 from the command line)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.service.runtime import sync_cameras
from affectlens.service.site import SiteConfigError, load_site
from affectlens.service.site_reference import markdown, settings
from affectlens.store import Store
from affectlens.store.db import sqlite_url

REPO_ROOT = Path(__file__).resolve().parents[1]

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
    # A hard-line purpose: the reason, as `analyze` and the API give it, not pydantic's list.
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: staff_monitoring}\n", {},
     "site.yaml: cameras[0].purpose: refused: expression analysis may not be used to monitor "
     "staff"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: carnival}\n", {},
     "site.yaml: cameras[0].purpose: Input should be 'care_safety', 'consented_research' or "
     "'anonymous_statistics'"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety,"
     " distress: {threshold: 1.5}}\n", {},
     "site.yaml: cameras[0].distress.threshold: Input should be less than 1"),
    ("cameras:\n  - {name: a, url: 'rtsp://h/s', purpose: care_safety}\n"
     "  - {name: a, url: 'rtsp://h/t', purpose: care_safety}\n", {},
     "site.yaml: cameras: camera names must be unique: a"),
    ("cameras:\n  - {name: Room 1, url: 'rtsp://h/s', purpose: care_safety}\n"
     "  - {name: room-1, url: 'rtsp://h/t', purpose: care_safety}\n", {},
     "site.yaml: cameras: camera slugs must be unique: room-1 (a slug unset is made from"),
    ("cameras:\n  - {name: a, slug: Room 1, url: 'rtsp://h/s', purpose: care_safety}\n", {},
     "site.yaml: cameras[0].slug: String should match pattern"),
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
    # issue 17 item 2: every setting has a finite range
    (f"host: {'a' * 200_000}\n", {},
     "site.yaml: host: String should have at most 253 characters"),
    ("host: 'my host'\n", {}, "site.yaml: host: must be an IP address or a host name"),
    ("workers: {io_timeout_s: .inf}\n", {},
     "site.yaml: workers.io_timeout_s: Input should be less than or equal to 300"),
    ("retention: {every_s: .nan}\n", {}, "site.yaml: retention.every_s: Input should be"),
    ("alerts: {webhooks: [{url: 'https://x/h', secret: 0123456789abcdef, "
     "backoff_s: [1, .inf]}]}\n", {},
     "site.yaml: alerts.webhooks[0].backoff_s[1]: Input should be less than or equal to 3600"),
    ("trusted_proxies: ['*']\n", {},
     "site.yaml: trusted_proxies[0]: '*' is not an IP address or network"),
    ("port: 8080\n", {"AFFECTLENS_TRUSTED_PROXIES": "10.0.0.1,proxy"},
     "site.yaml: trusted_proxies[1] (from AFFECTLENS_TRUSTED_PROXIES): 'proxy' is not an IP"),
    ("analysis: {smoothing_tau_s: 1e300}\n", {},
     "site.yaml: analysis.smoothing_tau_s: Input should be less than or equal to 3600"),
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
    one = write(tmp_path, "cameras:\n  - {name: a, url: rtsp://h/a, purpose: care_safety}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(one), "--check"],
                                env={"AFFECTLENS_PORT": "9200"})
    assert result.exit_code == 0 and "site.yaml: ok, 1 camera, serving" in result.output
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


def test_every_setting_has_a_finite_documented_range() -> None:
    """Issue 17 item 2: `falls: {long_lie_s: .inf}` and a 200,000-character host were
    accepted. Every number has both bounds, every text and list an upper size, and
    docs/site-config.md lists them as the models check them."""
    unbounded = [s.path for s in settings() if not s.bounded]
    assert unbounded == [], f"give these a finite range: {unbounded}"
    documented = (REPO_ROOT / "docs" / "site-config.md").read_text()
    assert documented == markdown(), ("docs/site-config.md is stale: python -m "
                                      "affectlens.service.site_reference > docs/site-config.md")


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A real self-signed certificate and its key, made by openssl."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _serve(config: Path, *options: str) -> tuple[int, list[str]]:
    return _serve_like(["serve", "--config", str(config), *options])


@pytest.mark.parametrize("check", [True, False])
def test_serve_checks_what_this_machine_must_provide_before_starting(
    tmp_path: Path, check: bool
) -> None:
    """Issue 17 item 2: `serve --check` passed configs that `serve` then failed on, some
    with a traceback, one after a minute. Each now stops both at once: one line naming the
    setting, exit status 2."""
    cert, key = _certificate(tmp_path, "site")
    other_cert, other_key = _certificate(tmp_path, "other")
    der = tmp_path / "site.der"
    subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "der", "-out", str(der)],
                   check=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = {
            "database_url: mysql://u:p@127.0.0.1/site\n":
                "database_url: 'mysql' databases are not supported",
            "database_url: sqlite+nodriver:///x.db\n":
                "database_url: the driver 'nodriver' is not installed",
            f"tls: {{certfile: {der.name}, keyfile: {key.name}}}\n":
                f"tls.certfile: {der} is not a PEM certificate",
            f"tls: {{certfile: {cert.name}, keyfile: {other_key.name}}}\n":
                f"tls.keyfile: {other_key} is not the key of the certificate",
            f"tls: {{certfile: {other_cert.name}, keyfile: {other_cert.name}}}\n":
                f"tls.keyfile: {other_cert} is not a PEM private key",
            f"port: {port}\n": f"port: {port} is in use on 127.0.0.1",
            "host: 192.0.2.1\n": "host: 192.0.2.1 is not an address of this machine",
            "host: no-such-host.invalid\n": "host: 'no-such-host.invalid' cannot be resolved",
        }
        for text, expected in cases.items():
            status, lines = _serve(write(tmp_path, text), *(["--check"] if check else []))
            assert status == 2 and len(lines) == 1, (text, lines)
            assert lines[0].startswith(f"error: {tmp_path / 'site.yaml'}: {expected}"), lines
    good = write(tmp_path, f"port: {port}\ntls: {{certfile: {cert.name}, keyfile: {key.name}}}\n")
    assert _serve(good, "--check") == (0, [f"{good}: ok, 0 cameras, serving on "
                                           f"127.0.0.1:{port}"])


def test_the_demo_says_at_once_that_its_port_is_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, lines = _serve_like(["demo", "--port", str(port), "--folder", str(tmp_path)])
    # One line, with the way out (issue 19, item 3: it printed the address and a login,
    # logged [Errno 98] and exited 3).
    assert status == 2 and lines == [
        f"error: --port: {port} is in use on 127.0.0.1 (another program, or affectlens already "
        f"running); choose another with --port, e.g. affectlens demo --port {port + 1}"]
    assert list(tmp_path.iterdir()) == []  # said before the videos were written


def _serve_like(arguments: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, arguments)
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]
