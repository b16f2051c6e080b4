"""Media inputs: video files and images, as frames with timestamps."""

from affectlens.sources.base import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaInfo, MediaSource, Span
from affectlens.sources.media import expand_inputs, open_media

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaInfo",
    "MediaSource",
    "Span",
    "expand_inputs",
    "open_media",
]
