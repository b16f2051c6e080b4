"""Privacy masks on real frames: the built-in sample's two portraits, one under a mask, through
the worker's CameraLoop and the real face models. What is under a mask is black in every
frame the models get and in every picture the worker sends; a face there is not found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from affectlens.engine import FrameResult, SourceSession
from affectlens.pipeline import Pipeline
from affectlens.privacy.masks import Mask, black_out
from affectlens.samples import sample_frames
from affectlens.service.camera import LiveFrame
from affectlens.service.messages import Message, Preview
from affectlens.service.runtime import Service
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.service.worker import CameraLoop, CameraSpec, make_session
from affectlens.store.db import sqlite_url
from affectlens.types import FaceAnalysis, Frame


class Seen:
    """The real engine session, keeping each frame it was given and what it found there."""

    def __init__(self, session: SourceSession) -> None:
        self.session = session
        self.frames: list[tuple[np.ndarray, FaceAnalysis]] = []

    def step(self, frame: Frame) -> FrameResult:
        result = self.session.step(frame)
        self.frames.append((frame.image, result.faces))
        return result

    def __getattr__(self, name: str) -> object:  # apply, finish, ...: the session's own
        return getattr(self.session, name)


def run(masks: tuple[Mask, ...], pipeline: Pipeline) -> tuple[Seen, list[Message]]:
    spec = CameraSpec(1, "file:///sample", "care_safety", 10.0, analysis=pipeline.config,
                      preview_fps=1000.0, masks=masks)
    seen, sent = Seen(make_session(spec, pipeline)), []
    loop = CameraLoop(spec, seen, sent.append)
    for index, (image, _) in enumerate(sample_frames(1.0)):
        loop.analyse(LiveFrame(image, index, 1_800_000_000.0 + index / 10))
    return seen, sent


def covering(rects: list[tuple[int, int, int, int]]) -> Mask:
    """A mask over every place the large portrait takes in the sample's first second."""
    x1, y1 = min(r[0] for r in rects), min(r[1] for r in rects)
    x2, y2 = max(r[2] for r in rects), max(r[3] for r in rects)
    return Mask(name="bathroom door", points=((x1, y1), (x2, y1), (x2, y2), (x1, y2)))


def test_a_masked_face_is_neither_analysed_nor_shown(
    pipeline_for: Callable[..., Pipeline]
) -> None:
    pipeline = pipeline_for(fps=10.0)
    truth = sample_frames(1.0)
    mask = covering([rects[0] for _, rects in truth])
    (mx1, my1), _, (mx2, my2), _ = mask.points
    unmasked, _ = run((), pipeline)
    assert {len(analysis) for _, analysis in unmasked.frames} == {2}  # both faces, as made
    masked, sent = run((mask,), pipeline)
    assert len(masked.frames) == len(truth)
    for (image, analysis), (original, rects) in zip(masked.frames, truth):
        inside = image[int(my1) : int(my2) + 1, int(mx1) : int(mx2) + 1]
        assert inside.max() == 0  # what the models got: black under the mask
        outside = rects[1]  # the small portrait, away from the mask: untouched
        assert np.array_equal(image[outside[1] : outside[3], outside[0] : outside[2]],
                              original[outside[1] : outside[3], outside[0] : outside[2]])
        (box,) = analysis.faces.boxes  # only the face outside the mask
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        assert outside[0] <= cx <= outside[2] and outside[1] <= cy <= outside[3]
    previews = [m for m in sent if isinstance(m, Preview)]
    assert previews
    for preview in previews:  # the picture that leaves the process: black there too
        picture = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
        inside = picture[int(my1) + 4 : int(my2) - 3, int(mx1) + 4 : int(mx2) - 3]
        assert inside.mean() < 3, inside.mean()


def test_black_out_paints_only_the_polygon() -> None:
    image = np.full((100, 200, 3), 200, np.uint8)
    triangle = Mask(name="window", points=((10, 10), (90, 10), (10, 90)))
    painted = black_out(image, (triangle,))
    assert painted[12, 12].tolist() == [0, 0, 0] and painted[85, 85].tolist() == [200] * 3
    assert image.min() == 200  # the camera's own frame is not changed
    assert black_out(image, ()) is image
    edge = Mask(name="past the edge", points=((150, 50), (400, 50), (400, 300), (150, 300)))
    assert black_out(image, (edge,))[60:, 150:].max() == 0


def test_masks_are_checked_in_the_site_config() -> None:
    camera = {"name": "room 12", "url": "rtsp://127.0.0.1/room12", "purpose": "care_safety"}
    with pytest.raises(ValidationError, match="at least 3 items"):
        CameraConfig(**camera, masks=[{"name": "door", "points": [[0, 0], [10, 0]]}])
    with pytest.raises(ValidationError, match="mask names must be unique: door"):
        CameraConfig(**camera, masks=[{"name": "door", "points": [[0, 0], [9, 0], [0, 9]]}] * 2)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        CameraConfig(**camera, masks=[{"name": "door", "points": [[-1, 0], [9, 0], [0, 9]]}])


def test_the_service_gives_each_worker_its_cameras_masks(tmp_path: Path) -> None:
    door = Mask(name="door", points=((0, 0), (50, 0), (50, 80)))
    site = SiteConfig(database_url=sqlite_url(tmp_path / "site.db"), cameras=[
        CameraConfig(name="room 12", url="rtsp://127.0.0.1/room12", purpose="care_safety",
                     masks=[door]),
        CameraConfig(name="hall", url="rtsp://127.0.0.1/hall", purpose="care_safety"),
    ], snapshots_dir=str(tmp_path / "snapshots"))
    service = Service(site)
    try:
        specs = {c.name: service.spec_for(c) for c in service.store.cameras()}
    finally:
        service.store.engine.dispose()
    assert specs["room 12"].masks == (door,) and specs["hall"].masks == ()
