"""``analyze --video --cluster``: annotated videos of inputs analysed on a cluster's nodes.

One machine draws each analysed frame as it goes (``AnnotatedVideoWriter``). On a cluster a
long video is analysed in segments whose track numbers are only known once they are stitched
(segments.py), so a frame cannot be drawn where it was analysed. Instead:

1. while a task analyses, ``OverlayRecorder`` keeps, for each frame it owns, the frame's
   number and time and every region its picture must blur (faces, pose heads, people held on
   the floor unseen: exactly what one machine's writer blurs); small arrays, no pixels;
2. once the job's tables are stitched, one render task per analysed piece (a whole file, or
   one segment's own span) decodes that span again on a node, draws each owned frame from the
   stitched frames table (boxes, track numbers, labels, ages) over its recorded regions with
   the one machine's drawing (``draw_labelled``), and encodes it as one machine's writer does;
3. the machine that runs the command joins a video's pieces into one file (their packets
   carry the frames' times: remuxed, not encoded again).

The cost: each video is decoded a second time (decoding only; no model runs), on the nodes.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pandas as pd

from affectlens.cluster.segments import Segment, owns
from affectlens.config import AnalysisConfig
from affectlens.errors import InputError
from affectlens.privacy.blur import blur_regions
from affectlens.report.annotated_video import AnnotatedVideoWriter, draw_labelled, face_label
from affectlens.sources import Span, open_media
from affectlens.sources.base import MediaInfo
from affectlens.types import FaceAnalysis, Frame

log = logging.getLogger(__name__)
TIME_MATCH_S = 1e-3  # a frame decoded again must come at the time it was analysed
LABEL_COLUMNS = ["frame", "x1", "y1", "x2", "y2", "track_id", "expression", "age"]


@dataclass
class Overlays:
    """What one piece's annotated frames blur: row k is frame ``frames[k]`` at ``times[k]``
    seconds; its regions are ``boxes[starts[k]:starts[k + 1]]``."""

    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    def regions(self, k: int) -> np.ndarray:
        return self.boxes[self.starts[k]:self.starts[k + 1]]


class OverlayRecorder:
    """A FrameObserver that keeps the Overlays of the frames ``segment`` owns (None: all)."""

    def __init__(self, segment: Segment | None = None) -> None:
        self.segment = segment
        self._frames: list[int] = []
        self._times: list[float] = []
        self._boxes: list[np.ndarray] = []

    def start(self, info: MediaInfo) -> None:
        pass

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None:
        if self.segment is not None and not owns(self.segment, frame.timestamp):
            return
        self._frames.append(frame.index)
        self._times.append(frame.timestamp)
        self._boxes.append(np.asarray(blur_regions(analysis, heads), float).reshape(-1, 4))

    def finish(self) -> None:
        pass

    def overlays(self) -> Overlays:
        sizes = [len(b) for b in self._boxes]
        return Overlays(
            np.asarray(self._frames, np.int64), np.asarray(self._times, float),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            np.concatenate(self._boxes) if self._boxes else np.zeros((0, 4)))


def render(path: str, config: AnalysisConfig, segment: Segment | None, overlays: Overlays,
           labels: pd.DataFrame, blur: bool) -> bytes:
    """Runs on a node: the piece's annotated frames as an MP4 (H.264), as bytes. ``labels``:
    the stitched frames table's rows of those frames (LABEL_COLUMNS)."""
    span = None if segment is None else Span(segment.start_s, segment.stop_s)
    source = open_media(Path(path), config.fps, config.max_image_side, span)
    wanted = {int(f): k for k, f in enumerate(overlays.frames)}
    faces = {int(f): rows for f, rows in labels.groupby("frame")}
    drawn = 0
    with tempfile.TemporaryDirectory() as folder:
        writer = AnnotatedVideoWriter(Path(folder), blur)
        writer.start(source.info)
        for frame in source.frames():
            k = wanted.get(frame.index)
            if k is None:
                continue
            if abs(frame.timestamp - overlays.times[k]) > TIME_MATCH_S:
                raise InputError(f"{path}: frame {frame.index} decoded at {frame.timestamp:.3f} "
                                 f"s, analysed at {overlays.times[k]:.3f} s: the file changed")
            rows = faces.get(frame.index, labels.iloc[:0])
            text = [face_label(-1 if pd.isna(t) else int(t), e, float(a))
                    for t, e, a in zip(rows.track_id, rows.expression, rows.age)]
            writer.write(frame.timestamp, draw_labelled(
                frame.image, overlays.regions(k), rows[["x1", "y1", "x2", "y2"]].to_numpy(float),
                text, blur))
            drawn += 1
        writer.finish()
        if drawn != len(wanted):
            raise InputError(f"{path}: {len(wanted) - drawn} of the analysed frames could not "
                             "be decoded again (the file changed?)")
        return writer.written[0].read_bytes()


def join(pieces: list[bytes], path: Path) -> None:
    """One video from pieces encoded alike, in time order: their packets copied, not encoded
    again. Pieces whose encoder settings differ (H.264 headers) are decoded and encoded."""
    headers = {_header(p) for p in pieces}
    if len(headers) > 1:
        log.info("%s: its pieces' H.264 headers differ; encoding them again", path.name)
        _encode_again(pieces, path)
        return
    with av.open(str(path), "w", format="mp4") as out:
        stream = None
        for piece in pieces:
            with av.open(io.BytesIO(piece)) as source:
                video = source.streams.video[0]
                if stream is None:
                    stream = out.add_stream_from_template(video)
                for packet in source.demux(video):
                    if packet.dts is None:  # the demuxer's end-of-stream packet
                        continue
                    packet.stream = stream
                    out.mux(packet)


def _header(piece: bytes) -> bytes:
    with av.open(io.BytesIO(piece)) as source:
        return bytes(source.streams.video[0].codec_context.extradata or b"")


def _encode_again(pieces: list[bytes], path: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        writer = AnnotatedVideoWriter(Path(folder), blur=True)  # pixels already drawn
        for n, piece in enumerate(pieces):
            with av.open(io.BytesIO(piece)) as source:
                video = source.streams.video[0]
                if n == 0:
                    writer.start(MediaInfo(path, "video", video.width, video.height, None, None))
                for frame in source.decode(video):
                    writer.write(float(frame.time), frame.to_ndarray(format="bgr24"))
        writer.finish()
        writer.written[0].replace(path)
