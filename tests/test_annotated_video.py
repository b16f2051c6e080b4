"""The annotated-video observer: a video whose encoding breaks half-way is closed, deleted and
not listed as written, and the next video is written as usual."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from affectlens.report.annotated_video import AnnotatedVideoWriter
from affectlens.sources.base import MediaInfo
from affectlens.types import FaceAnalysis, FaceDetections, Frame

IMAGE = np.zeros((48, 64, 3), np.uint8)


def feed(writer: AnnotatedVideoWriter, name: str, times: list[float]) -> None:
    writer.start(MediaInfo(Path(name), "video", 64, 48, 10.0, len(times)))
    for i, t in enumerate(times):
        writer.observe(Frame(IMAGE, i, t, name), FaceAnalysis(
            i, t, FaceDetections.empty(), np.zeros(0, np.int64), np.zeros((0, 7)),
            np.zeros((0, 7)), (), np.zeros(0)))


def test_a_video_that_breaks_is_not_kept_and_the_next_one_is(tmp_path: Path) -> None:
    writer = AnnotatedVideoWriter(tmp_path)
    with pytest.raises(av.error.FFmpegError):  # time stands still: the muxer refuses
        feed(writer, "broken.mp4", [k * 0.1 for k in range(60)] + [6.0] * 60)
    assert writer.written == [] and list(tmp_path.iterdir()) == []
    feed(writer, "good.mp4", [k * 0.1 for k in range(20)])
    writer.finish()
    (good,) = writer.written
    with av.open(str(good)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20
