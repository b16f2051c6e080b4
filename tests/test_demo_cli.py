"""`affectlens demo` as a visitor runs it (issue 19, items 2 and 3): the real command in a
process of its own, its temporary folder in a TMPDIR of the test's own. The address is printed
only once the port listens (it came about 6 s early, so the first click failed), and the
folder with its database goes on exit unless --keep."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from netutil import free_port

START_S = 180  # writing the videos and starting four workers, on a busy machine


class Demo:
    """The demo command running in a process, its printed lines (on stderr, with the log)
    read as they come."""

    def __init__(self, tmp_path: Path, *options: str) -> None:
        self.port = free_port()
        self.temp = tmp_path / "tmp"
        self.temp.mkdir()
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from affectlens.cli import app; app()", "demo",
             "--port", str(self.port), *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TMPDIR": str(self.temp), "COLUMNS": "200"})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, start: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=START_S)
            except queue.Empty:
                pytest.fail(f"no line starting {start!r}: {''.join(self.seen[-20:])}")
            self.seen.append(line)
            if line.startswith(start):
                return line

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def folders(self) -> list[Path]:
        return sorted(self.temp.glob("affectlens-demo-*"))


@pytest.fixture
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Demo:
    running = Demo(tmp_path, *request.param)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait(10)


@pytest.mark.parametrize("demo", [()], indirect=True)
def test_the_address_is_printed_once_it_listens_and_the_folder_goes(demo: Demo) -> None:
    line = demo.wait_for("Dashboard:")
    assert f"http://127.0.0.1:{demo.port}/" in line
    with socket.create_connection(("127.0.0.1", demo.port), timeout=2):
        pass  # refused on main: the address came before the server listened
    (folder,) = demo.folders()
    assert (folder / "affectlens.db").is_file()
    assert demo.stop() == 0
    assert demo.folders() == []


@pytest.mark.parametrize("demo", [("--keep",)], indirect=True)
def test_keep_keeps_the_folder(demo: Demo) -> None:
    demo.wait_for("Dashboard:")
    assert demo.stop() == 0
    (folder,) = demo.folders()
    assert {"affectlens.db", "bedroom.mp4", "lounge.mp4"} <= {p.name for p in folder.iterdir()}
