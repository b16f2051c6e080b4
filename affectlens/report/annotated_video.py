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
from affectlens.privacy.blur import blur_regions, outgoing_image
from affectlens.sources.base import MediaInfo
from affectlens.types import FaceAnalysis, Frame

log = logging.getLogger(__name__)
GREEN = (80, 200, 80)


def draw_annotations(image: np.ndarray, analysis: FaceAnalysis, blur: bool,
                     heads: np.ndarray | None = None) -> np.ndarray:
    """A new image: faces and pose heads blurred (unless blur is False: then the banner every
    unblurred picture carries), boxes and labels."""
    labels = [face_label(int(analysis.track_ids[i]), analysis.dominant[i],
                         float(analysis.ages[i])) for i in range(len(analysis))]
    return draw_labelled(image, blur_regions(analysis, heads), analysis.faces.boxes, labels,
                         blur)


def face_label(track: int, expression: str, age: float) -> str:
    """What an annotated video writes over a face: '#3 happy | age 41' (no number untracked)."""
    return f"{f'#{track} ' if track > 0 else ''}{expression} | age {age:.0f}"


def draw_labelled(image: np.ndarray, regions: np.ndarray, boxes: np.ndarray,
                  labels: list[str], blur: bool) -> np.ndarray:
    """A new image: ``regions`` blurred (or the banner), then each of ``boxes`` drawn with
    its label. A video stitched from a cluster's segments is drawn from its tables with this
    (affectlens.cluster.annotated), one machine's from the analysis: the same pictures."""

    def draw(out: np.ndarray) -> None:
        scale = max(0.4, out.shape[0] / 900)
        for (x1, y1, x2, y2), label in zip(np.asarray(boxes).astype(int), labels):
            cv2.rectangle(out, (x1, y1), (x2, y2), GREEN, 2)
            cv2.putText(out, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        GREEN, 2)

    return outgoing_image(image, regions, blur, draw=draw)


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
        self._container = av.open(str(self.reserve(info.path)), "w")
        try:
            self._stream = self._container.add_stream("libx264", rate=Fraction(1000))
            self._stream.width = info.width - info.width % 2  # 4:2:0 H.264 needs even sizes
            self._stream.height = info.height - info.height % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.time_base = Fraction(1, 1000)
        except Exception:
            self._abandon()
            raise

    def reserve(self, source: Path) -> Path:
        """The annotated video's path for ``source``, listed as written (the folder made)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._unique(self.directory / f"{output_name(source)}.annotated.mp4")
        self.written.append(path)
        return path

    def _unique(self, path: Path) -> Path:
        """Inputs of one name in different folders (a/clip.mp4, b/clip.mp4) get -2, -3..."""
        n, candidate = 1, path
        while candidate in self.written:
            n += 1
            candidate = path.with_name(path.name.replace(".annotated.mp4", f"-{n}.annotated.mp4"))
        return candidate

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None:
        if self._container is not None:
            self.write(frame.timestamp, draw_annotations(frame.image, analysis, self.blur, heads))

    def write(self, timestamp: float, image: np.ndarray) -> None:
        """Adds an image already drawn (and blurred) at ``timestamp`` seconds."""
        if self._container is None or self._stream is None:
            return
        try:
            image = image[: self._stream.height, : self._stream.width]
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            video_frame.pts = round(timestamp * 1000)
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
