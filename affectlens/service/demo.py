"""The live demo's site: four cameras on videos made at start, SQLite in a folder.

Each camera shows one thing the product is for, within about a minute of the start:

- lounge (care): a face that turns sad and stays so: a distress event after its hold time;
  a privacy mask blacks out a corner of it (never analysed, black in every picture);
- bedroom (care, falls): a drawn person who falls (a fall event with its blurred clip), lies
  on the floor (a long lie, with a demo-only long_lie_s of 10 s instead of the default), and
  gets up half a minute later (both events end); the loop repeats;
- entrance (anonymous statistics): two faces drifting by, counts and age bands only;
- garden: a camera whose video does not exist, as an unplugged camera: camera offline.

The media are made at start (affectlens/samples): the faces from Grace Hopper's public-domain
portrait in matplotlib's sample data, the falling person drawn. Needs no data, no network
and no camera. The dashboard needs a login: the demo makes an administrator with a random
password in its own throwaway database.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from affectlens.events.fall_settings import FallSettings
from affectlens.privacy.masks import Mask
from affectlens.samples import (
    SadScene,
    sad_frames,
    write_sample_video,
    write_video,
)
from affectlens.samples.figure import FallScene, fall_frames
from affectlens.security.accounts import Accounts
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.schema import FALLS_DEFAULT_FPS
from affectlens.vocabulary import Purpose

DEMO_USER = "demo"
# Demo-only: a long lie after 10 s on the floor (the default is FallSettings' long_lie_s), so
# that it shows within the first minute; said in the demo's printout.
DEMO_FALLS = FallSettings(long_lie_s=10.0)
# A privacy mask on the lounge, clear of the face: its corner is black in every picture.
DEMO_MASK = Mask(name="neighbour's window", points=((520, 0), (640, 0), (640, 110), (520, 110)))
FALL_FPS = round(FALLS_DEFAULT_FPS)  # the fall video plays at the camera's rate: no frame skipped
SAD_FPS = 5


def demo_site(folder: Path, host: str = "127.0.0.1", port: int = 8080) -> SiteConfig:
    """Writes the demo's videos into ``folder`` and returns a site that plays them."""
    folder.mkdir(parents=True, exist_ok=True)
    sad = write_video(folder / "lounge.mp4", sad_frames(SadScene(), SAD_FPS), SAD_FPS)
    fall = write_video(folder / "bedroom.mp4", fall_frames(FallScene(), FALL_FPS), FALL_FPS)
    sample = write_sample_video(folder / "entrance.mp4", seconds=8.0)
    unplugged = folder / "garden-unplugged.mp4"  # never written: the camera is offline
    return SiteConfig(
        database_url=sqlite_url(folder / "affectlens.db"), host=host, port=port,
        snapshots_dir=str(folder / "snapshots"),
        cameras=[
            CameraConfig(name="demo lounge", url=_url(sad), purpose=Purpose.CARE_SAFETY,
                         masks=[DEMO_MASK]),
            CameraConfig(name="demo bedroom", url=_url(fall), purpose=Purpose.CARE_SAFETY,
                         analysis_fps=FALL_FPS, falls=DEMO_FALLS),
            CameraConfig(name="demo entrance", url=_url(sample),
                         purpose=Purpose.ANONYMOUS_STATISTICS),
            CameraConfig(name="demo garden", url=_url(unplugged),
                         purpose=Purpose.ANONYMOUS_STATISTICS),
        ],
    )


def demo_notes(site: SiteConfig) -> list[str]:
    """What each demo camera shows and when, for the demo's printout."""
    fall, sad = FallScene(), SadScene()
    hold = site.cameras[0].distress.hold_s
    return [
        "What the demo shows (videos made at start from a public-domain portrait and a drawn "
        "figure):",
        f"  demo lounge:   a face turns sad; distress about {sad.sad_s + hold:.0f} s after "
        f"the camera starts; a privacy mask ({DEMO_MASK.name}) black in the top right corner",
        f"  demo bedroom:  a fall at about {fall.floor_s:.0f} s (with its blurred clip), a long "
        f"lie {DEMO_FALLS.long_lie_s:.0f} s later (demo setting: long_lie_s "
        f"{DEMO_FALLS.long_lie_s:g}, default {FallSettings().long_lie_s:g}), up again at "
        f"{fall.up_s:.0f} s; the video loops",
        "  demo entrance: anonymous statistics (counts and age bands) on /screen",
        "  demo garden:   an unplugged camera (its video does not exist): camera offline",
    ]


def _url(path: Path) -> str:
    return f"file://{path.resolve()}"


def demo_login(site: SiteConfig) -> tuple[str, str]:
    """An administrator for the demo's database: (user name, a new random password)."""
    password = secrets.token_urlsafe(12)
    store = Store(site.database_url)
    try:
        accounts = Accounts(store)
        if accounts.user(DEMO_USER) is None:
            accounts.add_user(DEMO_USER, "admin", password)
        else:  # the demo's folder used again: a new password for this run
            accounts.change_user(DEMO_USER, password=password)
    finally:
        store.engine.dispose()
    return DEMO_USER, password
