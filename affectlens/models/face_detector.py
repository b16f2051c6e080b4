"""BlazeFace short-range face detection with landmarks, tiled so that small faces are found.

BlazeFace sees a 128x128 picture and finds faces from about a sixth of its width upwards. A
whole 640x360 frame squeezed into 128 pixels would lose every face under ~60 px, so each frame
is also cut into overlapping square tiles, level by level (each level's tiles at most
LEVEL_RATIO times smaller than the last), down to the size at which a face of
``min_face_px`` is large enough for the model.
The tiles of all frames go through the network in calls of at most ``batch_tiles`` tiles
(a setting, ``AnalysisConfig.detector_batch_tiles``): the network's working memory grows with the
tiles in a call (a few MB each), and ONNX Runtime's arena keeps its largest allocation, so one
call for every tile of a batch of 4K frames would need tens of GB. Each call's detections are
decoded at once, keeping only those above the score threshold, mapped back to frame pixels, and
merged per frame with MediaPipe's weighted non-maximum suppression once all its tiles are done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.models.motion import Changes
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel, Opener
from affectlens.types import FaceDetections

INPUT = 128
# Smallest face box the model finds reliably, as a share of its input's width. Measured by
# tools/measure_face_scale.py on 200 UTKFace faces at the 0.78 score threshold: recall 78.5%
# at 0.147, 98% at 0.181.
MIN_FACE_FRACTION = 0.16
# A tile keeps only faces up to this share of its side, and up to OWN_LEVEL_MARGIN times the
# smallest face the next coarser level finds: larger ones are that level's to find, and a
# "face" that only a fine tile sees at that size is a false positive (seen on no_face.mp4).
MAX_FACE_FRACTION_IN_TILE = 0.45
OWN_LEVEL_MARGIN = 1.5
# Each level's tiles are at most this much smaller than the last level's, and overlap by
# MIN_FACE_FRACTION * LEVEL_RATIO, so a face too big for one level is found whole by the next
# coarser one.
LEVEL_RATIO = 2.5
TILE_OVERLAP = MIN_FACE_FRACTION * LEVEL_RATIO
# A face known to be somewhere is looked for again on every level whose faces' sizes it is
# within these margins of (known_face_tiles): a face near one level's limit may be found by
# either level, depending on its pose and on where the tiles cut.
LEVEL_MARGIN_LOW = 0.75
LEVEL_MARGIN_HIGH = 1.25
# A tile is searched for a face that moved or came only if at least this share of the area of
# the smallest face it finds changed: a change too small to be such a face is a smaller face
# (a finer tile's) or noise. Faces already known are searched for whatever changed.
MIN_CHANGED_SHARE = 0.1


def _anchors() -> np.ndarray:
    """Anchor centres (896, 2) of the short-range model, as MediaPipe's SSD options define them."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = INPUT // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


ANCHORS = _anchors()


@dataclass(frozen=True)
class Tile:
    """A square window of a frame: top-left corner and side, in frame pixels."""

    x: int
    y: int
    side: int
    level: int
    max_face: float

    def touches_inner_edge(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boxes cut by this tile's border where that border is not the frame's own edge."""
        margin = 0.02 * self.side
        left = (boxes[:, 0] < self.x + margin) & (self.x > 0)
        top = (boxes[:, 1] < self.y + margin) & (self.y > 0)
        right = (boxes[:, 2] > self.x + self.side - margin) & (self.x + self.side < width)
        bottom = (boxes[:, 3] > self.y + self.side - margin) & (self.y + self.side < height)
        return left | top | right | bottom


def plan_tiles(width: int, height: int, min_face_px: float) -> list[Tile]:
    """The whole frame, then ever smaller overlapping tiles down to the smallest face's scale."""
    full = max(width, height)
    tiles = [Tile(0, 0, full, 0, float(full))]
    span = full / (min_face_px / MIN_FACE_FRACTION)  # whole frame / smallest tile
    if span <= 1:
        return tiles
    levels = math.ceil(math.log(span) / math.log(LEVEL_RATIO))
    parent = full
    for level in range(1, levels + 1):
        side = max(1, round(full / span ** (level / levels)))
        step = max(1, int(side * (1 - TILE_OVERLAP)))
        max_face = min(MAX_FACE_FRACTION_IN_TILE * side,
                       OWN_LEVEL_MARGIN * MIN_FACE_FRACTION * parent)
        xs = _positions(width, side, step)
        ys = _positions(height, side, step)
        tiles += [Tile(x, y, side, level, max_face) for y in ys for x in xs]
        parent = side
    return tiles


def changed_tiles(tiles: list[Tile], changes: Changes) -> np.ndarray:
    """Per tile of ``tiles``: did enough change in it to be a face of the size it finds (a
    face may have come or moved there)?"""
    if not tiles:
        return np.zeros(0, bool)
    rects = _rects(tiles)
    smallest_face = MIN_FACE_FRACTION * (rects[:, 2] - rects[:, 0])
    return changes.within(rects) >= MIN_CHANGED_SHARE * smallest_face**2


def known_face_tiles(tiles: list[Tile], boxes: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """Per tile of ``tiles``: is it one to search for a face known to be in one of ``boxes``?
    Each box is grown by ``margin`` of its size on every side (a face moves between analysed
    frames); the tiles chosen for it are, on each level that finds a face of its size, those
    that hold the grown box whole, or touch it where none does (a face cut by a tile's inner
    border is dropped there)."""
    chosen = np.zeros(len(tiles), bool)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not tiles or not len(boxes):
        return chosen
    rects = _rects(tiles)
    sides = rects[:, 2] - rects[:, 0]
    smallest = LEVEL_MARGIN_LOW * MIN_FACE_FRACTION * sides  # each tile's smallest face
    largest = np.array([LEVEL_MARGIN_HIGH * t.max_face for t in tiles])
    levels = np.array([t.level for t in tiles])
    finest = levels == levels.max()
    width, height = rects[finest, 2].max(), rects[finest, 3].max()  # the frame's, or more
    for x0, y0, x1, y1 in boxes:
        size = max(x1 - x0, y1 - y0)
        grow = size * margin
        gx0, gy0 = max(x0 - grow, 0), max(y0 - grow, 0)
        gx1, gy1 = min(x1 + grow, width), min(y1 + grow, height)
        fits = (smallest <= size) & (size <= largest)
        if not fits.any():  # smaller than the finest level's faces: that level's anyway
            fits = finest
        holds = fits & (rects[:, 0] <= gx0) & (rects[:, 1] <= gy0) & (
            rects[:, 2] >= gx1) & (rects[:, 3] >= gy1)
        touches = fits & (rects[:, 0] < gx1) & (rects[:, 2] > gx0) & (
            rects[:, 1] < gy1) & (rects[:, 3] > gy0)
        for level in np.unique(levels[fits]):
            here = levels == level
            chosen |= (holds & here) if (holds & here).any() else (touches & here)
    return chosen


def _rects(tiles: list[Tile]) -> np.ndarray:
    return np.array([(t.x, t.y, t.x + t.side, t.y + t.side) for t in tiles], np.float64)


def _positions(length: int, side: int, step: int) -> list[int]:
    if side >= length:
        return [0]
    starts = list(range(0, length - side, step))
    return [*starts, length - side]


def _tile_input(image: np.ndarray, tile: Tile) -> np.ndarray:
    """The tile's pixels, zero-padded past the frame's edge, resized to the model's input
    (channels in the image's own order: resizing treats each channel alone)."""
    crop = image[tile.y : tile.y + tile.side, tile.x : tile.x + tile.side]
    square = np.zeros((tile.side, tile.side, 3), np.uint8)
    square[: crop.shape[0], : crop.shape[1]] = crop
    interp = cv2.INTER_AREA if tile.side > INPUT else cv2.INTER_LINEAR
    return cv2.resize(square, (INPUT, INPUT), interpolation=interp)


def _network_input(images: Sequence[np.ndarray], chunk: list[tuple[int, Tile]]) -> np.ndarray:
    """The network's input (N, 3, 128, 128), RGB in [-1, 1], for ``chunk``'s (image, tile)
    pairs of BGR ``images``. Channels are swapped per tile, not per frame: a 4K frame's RGB
    copy alone is 25 MB, and the result is the same bit for bit."""
    tiles = np.stack([_tile_input(images[i], tile) for i, tile in chunk])[..., ::-1]
    return tiles.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0


def _chunks(plans: list[list[Tile]], size: int) -> Iterator[list[tuple[int, Tile]]]:
    """Every (image index, tile) pair of ``plans``, in order, ``size`` at a time."""
    pairs = [(i, tile) for i, tiles in enumerate(plans) for tile in tiles]
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float
) -> FaceDetections:
    """MediaPipe's blending suppression: overlapping boxes are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    kept_boxes, kept_scores, kept_kps = [], [], []
    remaining = np.ones(len(boxes), bool)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        x1 = np.maximum(boxes[i, 0], boxes[:, 0])
        y1 = np.maximum(boxes[i, 1], boxes[:, 1])
        x2 = np.minimum(boxes[i, 2], boxes[:, 2])
        y2 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        iou = inter / (areas[i] + areas - inter + 1e-9)
        group = remaining & (iou > iou_threshold)
        weights = scores[group] / scores[group].sum()
        kept_boxes.append((boxes[group] * weights[:, None]).sum(0))
        kept_kps.append((keypoints[group] * weights[:, None, None]).sum(0))
        kept_scores.append(scores[i])
        remaining &= ~group
    if not kept_boxes:
        return FaceDetections.empty()
    return FaceDetections(
        np.array(kept_boxes, np.float32),
        np.array(kept_scores, np.float32),
        np.array(kept_kps, np.float32),
    )


class FaceDetector:
    """Faces and six landmarks per face, for a batch of BGR frames."""

    name = "blazeface_short_range"

    def __init__(
        self,
        device: Device = "cpu",
        min_face_px: float = 24,
        score_threshold: float = 0.78,
        iou_threshold: float = 0.3,
        threads: int = 0,
        batch_tiles: int | None = None,
        opener: Opener = OnnxModel,
    ) -> None:
        """``batch_tiles``: the most tiles in one network call; None: the setting's default.
        ``opener``: what runs the network (runtime.Opener)."""
        self.model = opener(WEIGHTS_DIR / f"{self.name}.onnx", device, threads)
        self.min_face_px = min_face_px
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        default = AnalysisConfig.model_fields["detector_batch_tiles"].default
        self.batch_tiles = max(1, int(batch_tiles if batch_tiles is not None else default))
        self._plans: dict[tuple[int, int], list[Tile]] = {}

    def tiles(self, width: int, height: int) -> list[Tile]:
        """The full search plan of a frame of this size (kept: a camera's frames are all one
        size)."""
        key = (width, height)
        if key not in self._plans:
            self._plans = {key: plan_tiles(width, height, self.min_face_px)}
        return self._plans[key]

    def predict(
        self, images: Sequence[np.ndarray], plans: Sequence[list[Tile] | None] | None = None
    ) -> list[FaceDetections]:
        """One FaceDetections per image; the tiles of all images go through the network
        ``batch_tiles`` at a time, so memory stays bounded whatever the frames' size.

        ``plans[i]``, when given and not None, are the only tiles of image i to search (from
        ``Pipeline._plans``); otherwise image i is searched in full.
        """
        searched = [self.tiles(im.shape[1], im.shape[0]) for im in images]
        if plans is not None:
            searched = [full if plan is None else plan
                        for full, plan in zip(searched, plans, strict=True)]
        found: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in images]
        for chunk in _chunks(searched, self.batch_tiles):
            regressors, logits = self.model.run(_network_input(images, chunk))
            for (i, tile), reg, logit in zip(chunk, regressors, logits):
                height, width = images[i].shape[:2]
                candidates = self._decode_tile(tile, reg, logit, width, height)
                if candidates is not None:
                    found[i].append(candidates)
        return [self._merge(faces, image.shape) for faces, image in zip(found, images)]

    def _decode_tile(
        self, tile: Tile, reg: np.ndarray, logit: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Boxes, scores and keypoints in frame pixels of one tile's faces above the score
        threshold that this tile's level owns; None when there are none."""
        scores = 1.0 / (1.0 + np.exp(-np.clip(logit[:, 0], -50, 50)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return None
        reg, anchors, scores = reg[keep] / INPUT, ANCHORS[keep], scores[keep]
        centre = reg[:, :2] + anchors
        half = reg[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1) * tile.side
        boxes += [tile.x, tile.y, tile.x, tile.y]
        kps = (reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * tile.side
        kps += [tile.x, tile.y]
        if tile.level > 0:
            sizes = boxes[:, 2] - boxes[:, 0]
            ok = sizes <= tile.max_face
            ok &= ~tile.touches_inner_edge(boxes, width, height)
            boxes, scores, kps = boxes[ok], scores[ok], kps[ok]
        return boxes, scores, kps

    def _merge(
        self, found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], shape: tuple[int, ...]
    ) -> FaceDetections:
        """One frame's faces from its tiles' candidates (in tile order)."""
        if not found:
            return FaceDetections.empty()
        boxes, scores, kps = (np.concatenate(parts) for parts in zip(*found))
        merged = weighted_nms(boxes, scores, kps, self.iou_threshold)
        height, width = shape[:2]
        return self._inside_frame(merged, width, height)

    @staticmethod
    def _inside_frame(faces: FaceDetections, width: int, height: int) -> FaceDetections:
        """Clip boxes to the frame; drop boxes whose centre lies in the zero padding."""
        centre_x = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2
        centre_y = (faces.boxes[:, 1] + faces.boxes[:, 3]) / 2
        inside = (centre_x < width) & (centre_y < height)
        boxes = faces.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return FaceDetections(boxes, faces.scores, faces.keypoints).select(inside)
