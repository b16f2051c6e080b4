"""The live demo's site: two cameras looping the built-in sample video, SQLite in a folder.

One camera is a care camera (expressions, distress rule), the other an entrance counter
(anonymous statistics: counts and age bands only), so both the dashboard and /screen have
something to show. Needs no data, no network and no camera.
"""

from __future__ import annotations

from pathlib import Path

from affectlens.samples import write_sample_video
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.store.db import sqlite_url


def demo_site(folder: Path, host: str = "127.0.0.1", port: int = 8080) -> SiteConfig:
    """Writes the sample video into ``folder`` and returns a site that plays it twice."""
    video = write_sample_video(folder / "sample.mp4", seconds=8.0)
    url = f"file://{video.resolve()}"
    return SiteConfig(
        database_url=sqlite_url(folder / "affectlens.db"), host=host, port=port,
        cameras=[
            CameraConfig(name="sample lounge", url=url, purpose="care_safety"),
            CameraConfig(name="sample entrance", url=url, purpose="anonymous_statistics"),
        ],
    )
