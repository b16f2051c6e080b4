"""Which files are media, and opening each as a source of frames.

A source opens eagerly (so a file that is not media fails at once with a clear message) and
decodes lazily. Problems found mid-file (a truncated video) end the stream early and are kept
in ``MediaInfo.warnings``: the frames decoded before them are still analysed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from affectlens.errors import InputError
from affectlens.sources.base import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaSource, Span
from affectlens.sources.image import ImageSource
from affectlens.sources.video import VideoSource


def expand_inputs(
    paths: Iterable[Path], extra_suffixes: frozenset[str] = frozenset()
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to analyse (folders searched recursively for media suffixes, and
    ``extra_suffixes``: audio files where voice is analysed), and the paths that cannot be,
    each with a one-line reason."""
    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES | extra_suffixes
    files: list[Path] = []
    errors: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in suffixes
            )
            if not found:
                errors.append((path, f"{path}: folder holds no video or image files"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            errors.append((path, f"{path}: no such file or folder"))
    unique: dict[Path, Path] = {}
    for file in files:  # a file given twice (or also inside a given folder) counts once
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), errors


def open_media(path: Path, fps: float | None = None, max_image_side: int = 4096,
               span: Span | None = None) -> MediaSource:
    """A frame source for ``path``; raises InputError with a one-line reason if it cannot be.
    ``span``: a video's frames in that part of it only (an image is one frame, whole)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, max_image_side)
    return VideoSource(path, fps, span)
