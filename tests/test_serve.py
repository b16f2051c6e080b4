"""`affectlens serve` as a real process: a looping file camera and a real RTSP camera, seen
through the HTTP API and /metrics; SIGTERM shuts it down cleanly; SIGKILL loses no event the
API had returned, and a restart finds the store consistent."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import pytest
from alembic.script import ScriptDirectory
from authutil import bearer
from netutil import free_port
from test_live_camera import RtspServer
from waiting import wait_until

from affectlens.security.audit import AuditLog
from affectlens.store import Store
from affectlens.store.db import MIGRATIONS, sqlite_url

AFFECTLENS = str(Path(sys.executable).with_name("affectlens"))
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Polls through connection errors: the service may still be starting or restarting."""
    return wait_until(condition, timeout, what, ignoring=(httpx.HTTPError,))


class Served:
    """`affectlens serve --config` in a child process, its stderr kept in a file; it calls
    the API as an administrator (a token made in the service's database)."""

    def __init__(self, config: Path, port: int, database: str,
                 env: dict[str, str] | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.database = database
        self.headers: dict[str, str] = {}
        self.log = config.with_suffix(f".{time.monotonic_ns()}.log")
        with self.log.open("w") as sink:
            self.process = subprocess.Popen([AFFECTLENS, "serve", "--config", str(config)],
                                            stdout=sink, stderr=subprocess.STDOUT,
                                            env={**os.environ, **(env or {})})

    def wait_ready(self) -> Served:
        wait_for(lambda: self.get("/api/health")["status"] == "ok", 60, "the API answers")
        store = Store(self.database)  # migrated by the service by now
        self.headers = bearer(store, "admin")
        store.engine.dispose()
        return self

    def get(self, path: str) -> dict | list:
        if self.process.poll() is not None:
            pytest.fail(f"the service exited ({self.process.returncode}):\n{self.output()}")
        response = httpx.get(self.base + path, headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.json() if "json" in response.headers["content-type"] else response

    def events(self, **filters: object) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.get(f"/api/events?limit=1000&{query}")

    def workers(self) -> list[int]:
        """Camera worker processes: the fork server's children (or spawned children)."""
        children = _children(self.process.pid)
        server = [pid for pid in children if b"forkserver" in _cmdline(pid)]
        if server:
            return _children(server[0])
        return [pid for pid in children if b"spawn_main" in _cmdline(pid)]

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").glob("*/children")
    return [int(child) for path in tasks for child in path.read_text().split()]


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


@pytest.fixture
def serve() -> Callable[..., Served]:
    """serve(config, port, database, env) -> a started service; killed at teardown if still
    running, so a failing test leaves no service behind."""
    started: list[Served] = []

    def start(config: Path, port: int, database: str, env: dict[str, str] | None = None
              ) -> Served:
        started.append(Served(config, port, database, env))
        return started[-1].wait_ready()

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(10)


def site_file(folder: Path, port: int, cameras: str) -> Path:
    """folder/site.yaml: a SQLite store beside it, workers polled often, these cameras."""
    path = folder / "site.yaml"
    path.write_text(f"database_url: site.db\nport: {port}\nworkers: {{poll_s: 0.5}}\n"
                    f"cameras:{cameras}")
    return path


def camera_ids(served: Served) -> dict[str, int]:
    return {c["name"]: c["id"] for c in served.get("/api/cameras")}


def test_serve_a_file_camera_and_a_real_rtsp_camera_then_stop_on_sigterm(
    url: str, tmp_path: Path, media, serve: Callable[..., Served]
) -> None:
    rtsp = RtspServer()
    rtsp.start()
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(f"""
database_url: "{url}"
port: {port}
workers: {{io_timeout_s: 2, poll_s: 0.5}}
cameras:
  - name: lounge
    url: "file://{media('WolfgangLanger_Pexels.mp4')}"
    purpose: care_safety
    distress: {{threshold: 0.5, hold_s: 2}}
  - name: corridor
    url: "{rtsp.url}"
    purpose: care_safety
""")
    served = serve(config, port, url, {"AFFECTLENS_LOG__FORMAT": "json"})
    try:
        ids = camera_ids(served)
        lounge, corridor = ids["lounge"], ids["corridor"]
        wait_for(lambda: all(c["online"] for c in served.get("/api/live")), 60, "both online")
        wait_for(lambda: served.events(kind="distress", camera_id=lounge), 45, "distress")
        snapshot = served.get(f"/api/cameras/{corridor}/snapshot.jpg")
        assert snapshot.content[:2] == b"\xff\xd8"  # a JPEG (blurred by the worker)
        rtsp.kill()
        wait_for(lambda: served.events(kind="camera_offline", camera_id=corridor), 20,
                 "the corridor camera goes offline")
        live = {c["camera_id"]: c for c in served.get("/api/live")}
        assert not live[corridor]["online"] and live[lounge]["online"]
        rtsp.start()
        wait_for(lambda: served.events(kind="camera_offline")[0]["ended_at"], 30,
                 "the outage ends when the stream returns")
        metrics = served.get("/metrics").text
        for camera in (lounge, corridor):
            assert f'affectlens_camera_analysed_fps{{camera="{camera}"}}' in metrics
            assert f'affectlens_frame_latency_seconds_count{{camera="{camera}"}}' in metrics
        assert "affectlens_frames_dropped_total" in metrics and "affectlens_queue_depth" in metrics
        distress_before_stop = served.events(kind="distress")
    finally:
        code = served.stop(signal.SIGTERM)
        rtsp.kill()
    assert code == 0, served.output()
    lines = [json.loads(line) for line in served.output().splitlines() if line.startswith("{")]
    assert any(line.get("camera_id") == lounge for line in lines)
    assert lines[-1]["message"] == "stopped"
    assert {e["id"] for e in distress_before_stop} <= {e.id for e in Store(url).events()}
    store = Store(url)
    assert store.open_events() == []  # every event ended on the way out
    assert store.totals(store.events()[-1].started_at)["people"] >= 1  # counts were sent
    assert [h.online for h in store.health(corridor)][:3] == [True, False, True]
    store.engine.dispose()


def test_sigkill_loses_no_returned_event_and_a_restart_finds_the_store_consistent(
    tmp_path: Path, media, serve: Callable[..., Served]
) -> None:
    port = free_port()
    database = tmp_path / "site.db"
    config = site_file(tmp_path, port, f"""
  - name: lounge
    url: "file://{media('WolfgangLanger_Pexels.mp4')}"
    purpose: care_safety
    distress: {{threshold: 0.5, hold_s: 2}}
  - name: garden
    url: "file://{tmp_path / 'not-there-yet.mp4'}"
    purpose: care_safety
""")
    served = serve(config, port, sqlite_url(database))
    wait_for(lambda: served.events(kind="distress") and served.events(kind="camera_offline"),
             60, "a distress event and an outage")
    returned = served.events()
    workers = served.workers()
    assert len(workers) == 2 and any(e["ended_at"] is None for e in returned)
    assert served.stop(signal.SIGKILL) == -signal.SIGKILL
    # Orphaned workers notice and stop reading their cameras.
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 15,
             "the workers exit after the service was killed")
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)

    restarted = serve(config, port, sqlite_url(database))
    try:
        after = {e["id"]: e for e in restarted.events()}
        for event in returned:  # nothing the API had returned is lost or changed
            kept = after[event["id"]]
            assert {k: kept[k] for k in ("camera_id", "kind", "started_at", "confidence")} == {
                k: event[k] for k in ("camera_id", "kind", "started_at", "confidence")}
            # An event left open by the killed run was ended when the service came back.
            assert kept["ended_at"] is not None and kept["ended_at"] >= kept["started_at"]
        assert sorted(camera_ids(restarted)) == ["garden", "lounge"]  # not added twice
        garden = camera_ids(restarted)["garden"]
        wait_for(lambda: any(e["ended_at"] is None
                             for e in restarted.events(camera_id=garden)), 20,
                 "the new run sees the garden camera still offline")
    finally:
        assert restarted.stop(signal.SIGINT) == 0, restarted.output()  # Ctrl-C: as SIGTERM
    store = Store(sqlite_url(database))
    assert store.open_events() == []
    store.engine.dispose()


def test_a_bad_config_stops_the_real_command_with_status_2(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("port: 70000\ncameras:\n"
                      "  - {name: x, url: 'rtsp://', purpose: care_safety}\n")
    result = subprocess.run([AFFECTLENS, "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert f"{config}: port: Input should be less than or equal to 65535" in result.stderr
    assert f"{config}: cameras[0].url: the URL has no host" in result.stderr


def test_https_with_the_sites_certificate_and_retention_runs_from_the_start(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(f"port: {port}\ntls: {{certfile: cert.pem, keyfile: key.pem}}\n"
                      "retention: {default: {events_days: 7}, every_s: 3600}\n")
    database = sqlite_url(tmp_path / "affectlens.db")
    served = Served(config, port, database)
    served.base = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(served.base + "/api/health", verify=trusted, timeout=5)
                break
            except httpx.HTTPError:
                if served.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no HTTPS answer:\n{served.output()}")
                time.sleep(0.3)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert "max-age" in answer.headers.get("strict-transport-security", "")
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the same port gets nothing
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).raise_for_status()
    finally:
        assert served.stop() == 0, served.output()
    store = Store(database)
    runs = [r for r in AuditLog(store).all_records() if r.action == "retention.run"]
    store.engine.dispose()
    assert len(runs) == 1 and runs[0].actor == "system:retention"


def test_serve_a_fall_camera_stores_the_fall_with_its_blurred_clip(
    tmp_path: Path, fall_video: Path, serve: Callable[..., Served]
) -> None:
    """A fall seen by a worker process reaches the store, with its clip sent over the
    supervisor's queue, written beside the snapshot and served to the dashboard's player."""
    port = free_port()
    config = site_file(tmp_path, port, f"""
  - name: room 12
    url: "file://{fall_video}"
    purpose: care_safety
    analysis_fps: 10
    falls: {{long_lie_s: 3, clip_before_s: 2, clip_after_s: 2}}
""")
    served = serve(config, port, sqlite_url(tmp_path / "site.db"))
    try:
        fall, *_ = wait_for(lambda: [e for e in served.events(kind="fall") if e["clip"]], 90,
                            "a fall event with its clip")
        clip = served.get(f"/api/events/{fall['id']}/clip.webm")
        snapshot = served.get(f"/api/events/{fall['id']}/snapshot.jpg")
    finally:
        assert served.stop(signal.SIGTERM) == 0, served.output()
    assert clip.headers["content-type"] == "video/webm" and snapshot.content[:2] == b"\xff\xd8"
    with av.open(io.BytesIO(clip.content)) as video:
        frames = [f.to_ndarray(format="bgr24") for f in video.decode(video=0)]
    assert len(frames) >= 20 and frames[0].shape == (240, 320, 3)  # ~4 s at 10 fps
    files = [p.suffix for p in (tmp_path / "snapshots").rglob("*.*")]
    assert ".webm" in files and ".jpg" in files


def _login_guesses(base: str, forwarded: list[str], source: str = "127.0.0.1") -> list[int]:
    """One wrong login per X-Forwarded-For value (a new name each time, so no name locks),
    sent from ``source``: their status codes."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=base, transport=transport, timeout=30) as client:
        return [client.post("/api/auth/login", headers={"X-Forwarded-For": address},
                            json={"username": f"guess{n}", "password": "wrong password"}
                            ).status_code for n, address in enumerate(forwarded)]


def test_forwarded_addresses_count_only_from_the_trusted_proxies(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    """Issue 17 item 1: a client rotating X-Forwarded-For got 60 of 60 guesses a minute
    through, as uvicorn believed the header from 127.0.0.1 by default. Now only from the
    site's trusted_proxies (here 127.0.0.2, a second loopback address)."""
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(f"port: {port}\ntrusted_proxies: [127.0.0.2]\n")
    database = sqlite_url(tmp_path / "affectlens.db")
    served = serve(config, port, database)
    rotating = [f"203.0.113.{n}" for n in range(12)]
    untrusted = _login_guesses(served.base, rotating)  # 127.0.0.1: not a proxy of this site
    assert untrusted[:10] == [401] * 10 and untrusted[10:] == [429, 429], untrusted
    through_proxy = _login_guesses(served.base, rotating, source="127.0.0.2")
    assert through_proxy == [401] * 12  # a different client each time, as the proxy says
    one_client = _login_guesses(served.base, ["198.51.100.7"] * 11, source="127.0.0.2")
    assert one_client[:10] == [401] * 10 and one_client[10] == 429
    store = Store(database)
    actors = {r.actor for r in AuditLog(store).all_records() if r.action == "login.failed"}
    store.engine.dispose()
    assert "anonymous@127.0.0.1" in actors and "anonymous@203.0.113.11" in actors
    assert "anonymous@127.0.0.2" not in actors
