"""The live demo's site: two cameras looping the built-in sample video, SQLite in a folder.

One camera is a care camera (expressions, distress rule), the other an entrance counter
(anonymous statistics: counts and age bands only), so both the dashboard and /screen have
something to show. Needs no data, no network and no camera. The dashboard needs a login: the
demo makes an administrator with a random password in its own throwaway database.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from affectlens.samples import write_sample_video
from affectlens.security.accounts import Accounts
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.vocabulary import Purpose

DEMO_USER = "demo"


def demo_site(folder: Path, host: str = "127.0.0.1", port: int = 8080) -> SiteConfig:
    """Writes the sample video into ``folder`` and returns a site that plays it twice."""
    video = write_sample_video(folder / "sample.mp4", seconds=8.0)
    url = f"file://{video.resolve()}"
    return SiteConfig(
        database_url=sqlite_url(folder / "affectlens.db"), host=host, port=port,
        snapshots_dir=str(folder / "snapshots"),
        cameras=[
            CameraConfig(name="sample lounge", url=url, purpose=Purpose.CARE_SAFETY),
            CameraConfig(name="sample entrance", url=url, purpose=Purpose.ANONYMOUS_STATISTICS),
        ],
    )


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
