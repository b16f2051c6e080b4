"""API latency under load: `affectlens serve` answering many clients at once (issue 17 item 3).

    python benchmarks/api_load.py [--database URL] [--clients 5,10,50] [--seconds 10]
                                  [--events 5000] [--cameras 8] [--websockets 0,1000]

A real `affectlens serve` in a child process, on loopback only, with a store holding
``--events`` events on ``--cameras`` cameras (disabled: no worker competes for the CPU), is
loaded by wrk (Debian's `wrk` package: `apt-get install wrk`), bounded by ``--seconds`` per
run, at each concurrency in ``--clients``, on `GET /api/events?limit=50` and `GET /api/live`
with a staff token; with ``--websockets N`` the `/api/live` runs are repeated while N
websockets (`/api/ws`, the dashboard's) are held open. Printed per run: requests a second,
latency p50 / p95 / p99 and errors as wrk measured them, and the service's CPU time per
request (its process and threads, from /proc), since these machines are shared and
wall-clock latency alone says little.

The store defaults to a SQLite file in a temporary folder; ``--database`` takes a PostgreSQL
URL instead (its tables are migrated, and the rows added here stay).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import websockets

from affectlens.eval.machine import machine_report
from affectlens.security.accounts import Accounts
from affectlens.store import Store

# The service runs from this checkout (``python -m affectlens`` with this tree first on the path),
# not whichever ``affectlens`` script is installed.
ROOT = Path(__file__).resolve().parent.parent
LIVE = "/api/live"
PATHS = ("/api/events?limit=50", LIVE)
# wrk's own Lua hook: one line of the percentiles the issue asks for (wrk prints only some).
REPORT_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %d %.3f %.1f %.1f %.1f %d\\n", summary.requests,
           summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
           latency:percentile(99) / 1e3, errors))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(url: str, events: int, cameras: int, run: str) -> str:
    """Cameras (disabled), events spread over the last week, and a staff token, returned.
    The cameras' names end in ``run``: a PostgreSQL store keeps the rows of earlier runs."""
    store = Store(url)
    now = datetime.now(UTC)
    ids = []
    for k in range(cameras):
        camera = store.add_camera(f"bench room {k + 1} {run}", f"file:///bench/room{k + 1}.mp4",
                                  "care_safety")
        store.update_camera(camera.id, enabled=False)
        ids.append(camera.id)
    kinds = ("fall", "long_lie", "distress", "camera_offline")
    for n in range(events):
        started = now - timedelta(seconds=n * 120)
        store.record_event(ids[n % cameras], kinds[n % len(kinds)], started, 0.9,
                           ended_at=started + timedelta(seconds=30))
    token, _ = Accounts(store).add_token("api-load", "staff", "benchmark")
    store.engine.dispose()
    return token


def raise_open_files(wanted: int) -> None:
    """Each websocket is a descriptor here and one in the service (which inherits this
    limit): raise the soft limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        if top < wanted:
            sys.exit(f"{wanted} open files needed, the hard limit is {hard}")


@contextmanager
def open_websockets(port: int, token: str, count: int) -> Iterator[None]:
    """``count`` websockets to /api/ws, each past its hello, held open (in a thread with its
    own event loop) until the block ends; every message the service pushes is read."""
    if count == 0:
        yield
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"ws://127.0.0.1:{port}/api/ws"

    async def one() -> websockets.ClientConnection:
        socket = await websockets.connect(url, additional_headers=headers, open_timeout=60,
                                          max_queue=None)
        await socket.recv()  # the hello
        return socket

    async def open_all() -> list[websockets.ClientConnection]:
        opened = []
        for start in range(0, count, 50):  # 50 at a time: the listen backlog
            opened += await asyncio.gather(*(one() for _ in range(start, min(count, start + 50))))
        return opened

    started = time.monotonic()
    opened = asyncio.run_coroutine_threadsafe(open_all(), loop).result(timeout=600)
    print(f"{len(opened)} websockets open in {time.monotonic() - started:.1f} s", flush=True)
    try:
        yield
    finally:
        async def close_all() -> None:
            await asyncio.gather(*(s.close() for s in opened), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, token: str, clients: int, seconds: float, script: Path
            ) -> tuple[int, float, float, float, float, int]:
    out = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s",
         "-s", str(script), "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    n, duration, p50, p95, p99, errors = match.groups()
    return int(n), float(duration), float(p50), float(p95), float(p99), int(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite, temporary)")
    parser.add_argument("--clients", default="5,10,50", help="concurrencies, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="per run")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--websockets", default="0",
                        help="open websockets (/api/ws) held during the /api/live runs, "
                             "comma-separated counts (0: none)")
    args = parser.parse_args()
    sockets = [int(n) for n in args.websockets.split(",")]
    raise_open_files(max(sockets) + 256)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="affectlens-api-load-"))
    url = args.database or f"sqlite:///{folder / 'site.db'}"
    port = free_port()
    config = folder / "site.yaml"
    config.write_text(f"database_url: \"{url}\"\nhost: 127.0.0.1\nport: {port}\n")
    script = folder / "report.lua"
    script.write_text(REPORT_LUA)
    with machine_report():
        Store(url).engine.dispose()  # migrated before the rows go in
        token = populate(url, args.events, args.cameras, folder.name.rsplit("-", 1)[-1])
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
        print(f"store: {url.split('://')[0]}, {args.events} events on {args.cameras} cameras; "
              f"wrk {wrk}, {args.seconds:g} s a run, loopback")
        log = (folder / "serve.log").open("w")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
        service = subprocess.Popen([sys.executable, "-m", "affectlens", "serve", "--config",
                                    str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   env=env, cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or service.poll() is not None:
                    sys.exit(f"the service did not start:\n{(folder / 'serve.log').read_text()}")
                time.sleep(0.5)
            print(f"{'path':24s} {'clients':>7s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
                  f"{'p99 ms':>8s} {'errors':>6s} {'CPU ms/req':>10s}")
            runs = [(path, 0) for path in PATHS if path != LIVE or 0 in sockets]
            runs += [(LIVE, n) for n in sockets if n > 0]
            for path, held in runs:
                with open_websockets(port, token, held):
                    for clients in (int(c) for c in args.clients.split(",")):
                        before = cpu_seconds(service.pid)
                        n, duration, p50, p95, p99, errors = run_wrk(
                            base + path, token, clients, args.seconds, script)
                        cpu = cpu_seconds(service.pid) - before
                        label = f"{path} +{held} ws" if held else path
                        print(f"{label:24s} {clients:7d} {n / duration:8.1f} {p50:8.1f} "
                              f"{p95:8.1f} {p99:8.1f} {errors:6d} {1e3 * cpu / max(n, 1):10.2f}",
                              flush=True)
        finally:
            service.terminate()
            service.wait(60)
            log.close()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
