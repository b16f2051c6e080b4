"""Take the documentation's screenshots from the real demo, in a real browser.

Why: the docs (docs/getting-started.md, the README) show what a newcomer will see, so their
pictures must be the product itself, not a mock-up that drifts from it. This tool starts
``python -m affectlens demo`` on a free port, logs in through the dashboard's login page in
headless Chromium (the system's browser, driven by Playwright; nothing is downloaded), waits
until the demo has raised each kind of event it is made to show (fall, long lie, distress,
camera offline), and saves:

- docs/images/dashboard.png: the dashboard at 1400x900;
- docs/images/dashboard-phone.png: the dashboard on a phone (390x844, drawn at device scale 2);
- docs/images/screen.png: the anonymous statistics screen (/screen) at 1400x900.

Then it stops the demo with Ctrl-C (SIGINT), as a person would, and the demo removes its
temporary folder. Every picture in them is one the service serves, so faces are blurred as
in every picture that leaves affectlens. The PNGs are optimised with Pillow, and reduced to a
palette of 256 colours when larger than --max-kb.

Run it from the repository root after a change to the dashboard or the demo:

    python tools/screenshots.py

It takes a minute or two (the demo's events come within about a minute of its start). It is
a tool, not a test: it depends on timing, and fails with a clear message after --timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES = REPO_ROOT / "docs" / "images"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOGIN = re.compile(r"Log in as '([^']+)' with password '([^']+)'")
KINDS = ("fall", "long_lie", "distress", "camera_offline")  # what the demo is made to show
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


class ScreenshotError(RuntimeError):
    """A step that did not happen in time, said in one line."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Demo:
    """``affectlens demo`` in a child process; its output is kept to find the login."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lines: list[str] = []
        env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200",
               "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "affectlens", "demo", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines[-20:])

    def wait_for_login(self, timeout_s: float) -> tuple[str, str]:
        """(user, password) from the demo's printout, once the dashboard listens."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ScreenshotError(f"the demo exited with status {self.process.returncode}:"
                                      f"\n{self.output()}")
            found = next((m for m in map(LOGIN.search, self.lines) if m), None)
            if found and listening(self.port):
                return found.group(1), found.group(2)
            time.sleep(0.5)
        raise ScreenshotError(f"the demo did not listen on port {self.port} and print its login "
                              f"within {timeout_s:.0f} s:\n{self.output()}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ctrl-C, then harder only if it does not end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                print("the demo did not stop on Ctrl-C; terminating it", file=sys.stderr)
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._reader.join(5)


@contextmanager
def running_demo(port: int) -> Iterator[Demo]:
    demo = Demo(port)
    try:
        yield demo
    finally:
        demo.stop()


def wait_for_events(context, timeout_s: float) -> dict[str, int]:
    """Polls /api/events with the logged-in session until every kind in KINDS was raised."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, int] = {}
    while True:
        answer = context.request.get("/api/events?limit=1000")
        if answer.ok:
            seen = {}
            for event in answer.json():
                seen[event["kind"]] = seen.get(event["kind"], 0) + 1
            if all(kind in seen for kind in KINDS):
                return seen
        if time.monotonic() > deadline:
            missing = ", ".join(kind for kind in KINDS if kind not in seen)
            raise ScreenshotError(f"the demo raised no {missing} event within {timeout_s:.0f} s "
                                  f"(seen: {seen or 'none'}); on a busy machine try a longer "
                                  "--timeout")
        time.sleep(2)


def settle_dashboard(page, timeout_ms: int) -> None:
    """Live, the feed filled and the online cameras' blurred previews drawn."""
    page.locator("#socket-state").filter(has_text="live").wait_for(timeout=timeout_ms)
    page.locator("#event-feed li").first.wait_for(timeout=timeout_ms)
    try:  # the lounge, bedroom and entrance play; the garden is offline
        page.wait_for_function(
            "() => [...document.querySelectorAll('.camera .preview')]"
            ".filter(image => !image.hidden && image.naturalWidth > 0).length >= 3",
            timeout=timeout_ms)
    except Exception:  # a picture without every preview still says a lot
        print("warning: not every camera's preview was drawn", file=sys.stderr)
    page.wait_for_timeout(1000)  # the charts' and previews' last redraw


def save_png(png: bytes, path: Path, max_kb: int, width: int | None = None) -> int:
    """Optimised; scaled down to ``width`` if given (a phone drawn at device scale 2 reads
    sharp at its own width, and needs no size attribute, which GitHub would print as text);
    a 256-colour palette when the full-colour file is over max_kb."""
    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    if width is not None and image.width > width:
        image = image.resize((width, round(image.height * width / image.width)),
                             Image.Resampling.LANCZOS)
    out = BytesIO()
    image.save(out, "PNG", optimize=True)
    if out.tell() > max_kb * 1024:
        out = BytesIO()
        image.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(out, "PNG", optimize=True)
    path.write_bytes(out.getvalue())
    return out.tell()


def take(out: Path, timeout_s: float, max_kb: int) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise ScreenshotError(f"no chromium at {CHROMIUM}: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    timeout_ms = int(timeout_s * 1000)
    started = time.monotonic()
    print(f"starting the demo on port {port}")
    with running_demo(port) as demo, sync_playwright() as playwright:
        user, password = demo.wait_for_login(timeout_s)
        print(f"the demo listens; logging in as {user!r}")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            desktop = browser.new_context(viewport=DESKTOP, base_url=base)
            page = desktop.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto("/")  # an anonymous visitor is sent to the login page
            page.fill("#username", user)
            page.fill("#password", password)
            page.click("#login-form button[type=submit]")
            page.locator("#who").filter(has_text=user).wait_for()
            left = timeout_s - (time.monotonic() - started)
            seen = wait_for_events(desktop, max(left, 10.0))
            print("events raised: " + ", ".join(f"{kind} {n}" for kind, n in sorted(seen.items())))
            shots: dict[str, bytes] = {}
            page.reload()  # the feed as a person opening the dashboard now sees it
            settle_dashboard(page, timeout_ms)
            shots["dashboard.png"] = page.screenshot()
            page.goto("/screen")
            try:
                page.locator("#figures").wait_for(state="visible", timeout=60_000)
            except Exception:  # the waiting note is still a true picture of the screen
                print("warning: the screen still waits for enough people", file=sys.stderr)
            page.wait_for_timeout(1000)
            shots["screen.png"] = page.screenshot()
            phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                        has_touch=True, base_url=base,
                                        storage_state=desktop.storage_state())
            small = phone.new_page()
            small.set_default_timeout(timeout_ms)
            small.goto("/")
            settle_dashboard(small, timeout_ms)
            shots["dashboard-phone.png"] = small.screenshot()
        finally:
            browser.close()
    for name, png in shots.items():
        width = PHONE["width"] if name == "dashboard-phone.png" else None
        size = save_png(png, out / name, max_kb, width)
        print(f"{out / name}: {size / 1024:.0f} KB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Starts `affectlens demo`, waits for its fall, "
        "long lie, distress and camera-offline events, and saves dashboard.png, "
        "dashboard-phone.png and screen.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the PNGs")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the demo to listen and raise every event")
    parser.add_argument("--max-kb", type=int, default=350,
                        help="a PNG larger than this is reduced to a 256-colour palette")
    args = parser.parse_args(argv)
    try:
        take(args.out.resolve(), args.timeout, args.max_kb)
    except ScreenshotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
