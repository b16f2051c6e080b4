"""Which stored media files may be served: events' blurred snapshots and clips, only from
inside the site's ``snapshots_dir``, whatever path the database holds."""

from __future__ import annotations

from pathlib import Path

from affectlens.service.clips import CLIP_SUFFIX

MEDIA_SUFFIXES = (".jpg", ".jpeg", CLIP_SUFFIX)  # events' blurred snapshots and clips


def media_file(folder: Path | None, relative: str | None) -> Path | None:
    """``folder/relative`` if it is a file inside ``folder`` (no ``..``, no absolute path, no
    link out of it), else None."""
    if folder is None or not relative:
        return None
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() not in MEDIA_SUFFIXES:
        return None
    return path if path.is_file() else None
