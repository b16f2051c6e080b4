"""Annotated copies of analysed videos: boxes, track ids and labels, faces blurred by default.

With blurring off (``blur=False``, asked for explicitly) every frame carries a visible
"FACES NOT BLURRED" banner, so that such a video can never pass as a blurred one.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from affectlens.observers import output_name
from affectlens.privacy.blur import outgoing_picture
from affectlens.sources.base import MediaInfo
from affectlens.types import FaceAnalysis, Frame

log = logging.getLogger(__name__)
GREEN = (80, 200, 80)


def draw_annotations(image: np.ndarray, analysis: FaceAnalysis, blur: bool,
                     heads: np.ndarray | None = None) -> np.ndarray:
    """A new image: faces and pose heads blurred (unless blur is False: then the banner every
    unblurred picture carries), boxes and labels."""

    def labels(out: np.ndarray) -> None:
        scale = max(0.4, out.shape[0] / 900)
        for i, (x1, y1, x2, y2) in enumerate(analysis.faces.boxes.astype(int)):
            track = int(analysis.track_ids[i])
            label = f"#{track} " if track > 0 else ""
            label += f"{analysis.dominant[i]} | age {analysis.ages[i]:.0f}"
            cv2.rectangle(out, (x1, y1), (x2, y2), GREEN, 2)
            cv2.putText(out, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        GREEN, 2)

    return outgoing_picture(image, analysis, heads, blur, draw=labels)


class AnnotatedVideoWriter:
    """Writes <out>/<input name>.annotated.mp4 (H.264) for each video analysed."""

    def __init__(self, directory: Path, blur: bool = True) -> None:
        self.directory = directory
        self.blur = blur
        self.written: list[Path] = []
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None

    def start(self, info: MediaInfo) -> None:
        self.finish()  # the last video's, if it was never finished
        if info.kind != "video":
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._unique(self.directory / f"{output_name(info.path)}.annotated.mp4")
        self._container = av.open(str(path), "w")
        self.written.append(path)
        try:
            self._stream = self._container.add_stream("libx264", rate=Fraction(1000))
            self._stream.width = info.width - info.width % 2  # 4:2:0 H.264 needs even sizes
            self._stream.height = info.height - info.height % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.time_base = Fraction(1, 1000)
        except Exception:
            self._abandon()
            raise

    def _unique(self, path: Path) -> Path:
        """Inputs of one name in different folders (a/clip.mp4, b/clip.mp4) get -2, -3..."""
        n, candidate = 1, path
        while candidate in self.written:
            n += 1
            candidate = path.with_name(path.name.replace(".annotated.mp4", f"-{n}.annotated.mp4"))
        return candidate

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None:
        if self._container is None or self._stream is None:
            return
        try:
            image = draw_annotations(frame.image, analysis, self.blur, heads)
            image = image[: self._stream.height, : self._stream.width]
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            video_frame.pts = round(frame.timestamp * 1000)
            video_frame.time_base = Fraction(1, 1000)
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)
        except Exception:
            self._abandon()
            raise

    def finish(self) -> None:
        if self._container is None or self._stream is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except Exception:
            self._abandon()
            raise
        self._container = self._stream = None

    def _abandon(self) -> None:
        """A video that broke half-way is closed, deleted and not listed as written: the
        analysis drops this observer and goes on, and a truncated file would pass for a
        whole one."""
        path = self.written.pop()
        container, self._container, self._stream = self._container, None, None
        try:
            if container is not None:
                container.close()
        except av.error.FFmpegError as error:
            log.warning("closing the broken %s: %s", path.name, error)
        path.unlink(missing_ok=True)
