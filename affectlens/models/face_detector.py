"""BlazeFace short-range face detection with landmarks, tiled so that small faces are found.

BlazeFace sees a 128x128 picture and finds faces from about a sixth of its width upwards. A
whole 640x360 frame squeezed into 128 pixels would lose every face under ~60 px, so each frame
is also cut into overlapping square tiles, level by level (each level's tiles at most
LEVEL_RATIO times smaller than the last, at the sides that need the fewest tiles), down to
the size at which a face of ``min_face_px`` is large enough for the model.
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
# The tile sides level_sides chooses between: the smallest tile's side times powers of this.
SIDE_GRID = 1.01
# A face known to be somewhere is looked for again on every level whose faces' sizes it is
# within these margins of (known_face_tiles): a face near one level's limit may be found by
# either level, depending on its pose and on where the tiles cut.
LEVEL_MARGIN_LOW = 0.75
LEVEL_MARGIN_HIGH = 1.25
# A tile is searched for a face that moved or came only if at least this share of the area of
# the smallest face it finds changed: a change too small to be such a face is a smaller face
# (a finer tile's) or noise. Faces already known are searched for whatever changed.
MIN_CHANGED_SHARE = 0.1
# A face found on one analysed frame is looked for on the next inside its box grown by this
# share of its size on every side (it moves between frames): ``known_face_tiles``.
KNOWN_FACE_MARGIN = 0.5
# Where a face's person may change the picture around it, in face sizes left, up, right and
# down of its box (an upright adult is about 7.5 heads tall and 2.5 wide at the shoulders,
# arms out wider): ``body_reach``.
BODY_REACH = (1.5, 1.0, 1.5, 7.0)


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


# One searched tile's faces before merging: boxes (N, 4), scores (N,), keypoints (N, 6, 2),
# in frame pixels.
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


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
    """The whole frame, then ever smaller overlapping tiles down to the smallest face's scale,
    with the level sides that need the fewest tiles (``level_sides``)."""
    full = max(width, height)
    tiles = [Tile(0, 0, full, 0, float(full))]
    parent = full
    for level, side in enumerate(level_sides(width, height, min_face_px), start=1):
        max_face = min(MAX_FACE_FRACTION_IN_TILE * side,
                       OWN_LEVEL_MARGIN * MIN_FACE_FRACTION * parent)
        xs, ys = _level_positions(width, height, side)
        tiles += [Tile(x, y, side, level, max_face) for y in ys for x in xs]
        parent = side
    return tiles


def level_sides(width: int, height: int, min_face_px: float) -> list[int]:
    """The tile side of each level under the whole frame, coarse to fine, ending with the side
    in which a ``min_face_px`` face is ``MIN_FACE_FRACTION`` of the tile; empty when the whole
    frame is that small.

    Every level's tiles are at most ``LEVEL_RATIO`` times smaller than the level above (so a
    face too big for one level is found whole by the next coarser one), and among the sides
    that keep to that, the ones with the fewest tiles in all are chosen (sides on a 1% grid;
    fewer levels on a tie). Why not sides evenly spaced in scale: a level's tile count jumps
    with how its tiles fit the frame's width and height, and even spacing lands where it jumps
    up as often as not (1000x667 at 24 px faces: 108 tiles evenly spaced, 92 chosen)."""
    full = max(width, height)
    smallest = max(1, round(min_face_px / MIN_FACE_FRACTION))
    if smallest >= full:
        return []
    sides = sorted({smallest, *(round(smallest * SIDE_GRID**k) for k in range(
        1, math.ceil(math.log(full / smallest) / math.log(SIDE_GRID))))} - {full})
    tiles = [math.prod(len(p) for p in _level_positions(width, height, side)) for side in sides]
    # best[i]: (tiles, levels) of the cheapest chain of levels from sides[i] down to smallest,
    # and the next side in it. The side just below always qualifies: one step of the grid is
    # never more than LEVEL_RATIO (1 -> 2 at most, after rounding).
    best: list[tuple[tuple[int, int], int | None]] = [((tiles[0], 1), None)]
    for i in range(1, len(sides)):
        best.append(min(((best[j][0][0] + tiles[i], best[j][0][1] + 1), j)
                        for j in range(i) if sides[i] <= LEVEL_RATIO * sides[j]))
    top = min((best[i][0], i) for i in range(len(sides)) if full <= LEVEL_RATIO * sides[i])[1]
    chain: list[int] = []
    at: int | None = top
    while at is not None:
        chain.append(sides[at])
        at = best[at][1]
    return chain


def _level_positions(width: int, height: int, side: int) -> tuple[list[int], list[int]]:
    """Left and top edges of a level's tiles of ``side``, overlapping by TILE_OVERLAP."""
    step = max(1, int(side * (1 - TILE_OVERLAP)))
    return _positions(width, side, step), _positions(height, side, step)


def changed_tiles(tiles: list[Tile], changes: Changes) -> np.ndarray:
    """Per tile of ``tiles``: did enough change in it to be a face of the size it finds (a
    face may have come or moved there)?"""
    if not tiles:
        return np.zeros(0, bool)
    rects = _rects(tiles)
    smallest_face = MIN_FACE_FRACTION * (rects[:, 2] - rects[:, 0])
    return changes.within(rects) >= MIN_CHANGED_SHARE * smallest_face**2


def _extended(boxes: np.ndarray, sides: Sequence[float]) -> np.ndarray:
    """``boxes`` (N, 4) each extended by ``sides`` (left, up, right, down) times its larger
    side."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return boxes + size[:, None] * np.asarray(sides) * np.array([-1.0, -1.0, 1.0, 1.0])


def grown(boxes: np.ndarray, margin: float = KNOWN_FACE_MARGIN) -> np.ndarray:
    """``boxes`` (N, 4) each grown by ``margin`` of its larger side on every side."""
    return _extended(boxes, (margin,) * 4)


def body_reach(boxes: np.ndarray, margin: float = KNOWN_FACE_MARGIN) -> np.ndarray:
    """For each face box (N, 4), the region its person's head, shoulders and body may fill
    when upright, wherever in its box grown by ``margin`` the face went: ``BODY_REACH`` and
    ``margin`` face sizes left, up, right and down of the box."""
    return _extended(boxes, [side + margin for side in BODY_REACH])


def known_face_tiles(tiles: list[Tile], boxes: np.ndarray,
                     margin: float = KNOWN_FACE_MARGIN) -> np.ndarray:
    """Per tile of ``tiles``: is it one to search for a face known to be in one of ``boxes``?
    Each box is grown by ``margin`` of its size on every side (a face moves between analysed
    frames); the tiles chosen for it are, on each level that finds a face of its size, those
    that hold the grown box whole, or where none does, those that share with it a rectangle
    the face fits in: a face cut by a tile's inner border is dropped there, so a tile that
    only touches the grown box (by less than the face's width or height) cannot give it back.
    Those touching tiles were nine to twelve fine tiles a frame, of which two can hold a still
    58 px face at 640x360 (tests/test_face_detector.py)."""
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
    for (x0, y0, x1, y1), (gx0, gy0, gx1, gy1) in zip(boxes, grown(boxes, margin)):
        size = max(x1 - x0, y1 - y0)
        gx0, gy0 = max(gx0, 0), max(gy0, 0)
        gx1, gy1 = min(gx1, width), min(gy1, height)
        fits = (smallest <= size) & (size <= largest)
        if not fits.any():  # smaller than the finest level's faces: that level's anyway
            fits = finest
        holds = fits & (rects[:, 0] <= gx0) & (rects[:, 1] <= gy0) & (
            rects[:, 2] >= gx1) & (rects[:, 3] >= gy1)
        overlap_w = np.minimum(rects[:, 2], gx1) - np.maximum(rects[:, 0], gx0)
        overlap_h = np.minimum(rects[:, 3], gy1) - np.maximum(rects[:, 1], gy0)
        touches = fits & (overlap_w >= min(x1 - x0, gx1 - gx0)) & (
            overlap_h >= min(y1 - y0, gy1 - gy0))
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


class _LevelPictures:
    """One image's pixels scaled once per detector level, over the part of it that level's
    searched tiles cover, from which each tile's input is cut.

    Why not resize each tile alone: a level's tiles overlap (by ``TILE_OVERLAP`` of their
    side, each way), so resizing tile by tile resizes most pixels two to three times over.
    Cut from the scaled picture, a tile starts at the scaled pixel nearest to where it starts
    in the frame (at most half a scaled pixel off: 0.6 frame pixels for the 150 px tiles of
    24 px faces), and its faces are mapped back from where it was cut (``_TileCut``). A level
    whose searched tiles lie far apart (a gated search: a face in one corner, a change in
    another) would scale more pixels than its tiles hold: its tiles are resized alone."""

    def __init__(self, image: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Scale, per level, the region the level's ``tiles`` cover (clipped to the image),
        unless that region holds more pixels than the tiles do."""
        self.image = image
        height, width = image.shape[:2]
        by_level: dict[int, list[Tile]] = {}
        for tile in tiles:
            by_level.setdefault(tile.level, []).append(tile)
        # level -> (left, top, scale x, scale y, scaled picture of the region); a level not
        # here has its tiles resized alone
        self._levels: dict[int, tuple[int, int, float, float, np.ndarray]] = {}
        for level, group in by_level.items():
            side = group[0].side
            left, top = min(t.x for t in group), min(t.y for t in group)
            right = min(width, max(t.x + t.side for t in group))
            bottom = min(height, max(t.y + t.side for t in group))
            if (right - left) * (bottom - top) > len(group) * side * side:
                continue
            scale = INPUT / side
            size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
            interp = cv2.INTER_AREA if side > INPUT else cv2.INTER_LINEAR
            scaled = cv2.resize(image[top:bottom, left:right], size, interpolation=interp)
            self._levels[level] = (left, top, size[0] / (right - left),
                                   size[1] / (bottom - top), scaled)

    def cut(self, tile: Tile) -> _TileCut:
        """The tile's input (the model's size, zero past the image's edge, channels in the
        image's own order) and the frame rectangle it shows."""
        if tile.level not in self._levels:
            return _tile_alone(self.image, tile)
        left, top, scale_x, scale_y, scaled = self._levels[tile.level]
        x, y = round((tile.x - left) * scale_x), round((tile.y - top) * scale_y)
        pixels = np.zeros((INPUT, INPUT, 3), np.uint8)
        piece = scaled[y : y + INPUT, x : x + INPUT]
        pixels[: piece.shape[0], : piece.shape[1]] = piece
        return _TileCut(pixels, left + x / scale_x, top + y / scale_y,
                        INPUT / scale_x, INPUT / scale_y)


def _tile_alone(image: np.ndarray, tile: Tile) -> _TileCut:
    """The tile's pixels, zero-padded past the frame's edge, resized to the model's input on
    their own (channels in the image's own order: resizing treats each channel alone)."""
    crop = image[tile.y : tile.y + tile.side, tile.x : tile.x + tile.side]
    square = np.zeros((tile.side, tile.side, 3), np.uint8)
    square[: crop.shape[0], : crop.shape[1]] = crop
    interp = cv2.INTER_AREA if tile.side > INPUT else cv2.INTER_LINEAR
    pixels = cv2.resize(square, (INPUT, INPUT), interpolation=interp)
    return _TileCut(pixels, tile.x, tile.y, tile.side, tile.side)


@dataclass(frozen=True)
class _TileCut:
    """A tile's network input and the frame rectangle it shows: its origin and its side along
    each axis (the scaled picture's rounding may stretch one axis by a fraction of a percent)."""

    pixels: np.ndarray
    x: float
    y: float
    side_x: float
    side_y: float


def _network_input(cuts: Sequence[_TileCut]) -> np.ndarray:
    """The network's input (N, 3, 128, 128), RGB in [-1, 1], for BGR tile ``cuts``. Channels
    are swapped per tile, not per frame: a 4K frame's RGB copy alone is 25 MB. OpenCV's
    ``blobFromImages`` swaps, scales and lays the tiles out channel-first in one pass and
    gives a contiguous array, which ONNX Runtime takes without a copy; numpy's swap, cast,
    transpose and scale took a fifth of the network's own time a tile (docs/speed.md)."""
    half = 127.5
    return cv2.dnn.blobFromImages([cut.pixels for cut in cuts], 1 / half, (INPUT, INPUT),
                                  (half, half, half), swapRB=True, crop=False)


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
        found = self.candidates(images, plans)
        return [self.merge(faces, image.shape) for faces, image in zip(found, images)]

    def candidates(
        self, images: Sequence[np.ndarray], plans: Sequence[list[Tile] | None] | None = None
    ) -> list[list[Candidates]]:
        """Per image, each searched tile's faces before merging (``predict``'s first half):
        ``merge`` of two searches' candidates of one image is what one search of both plans'
        tiles gives."""
        searched = [self.tiles(im.shape[1], im.shape[0]) for im in images]
        if plans is not None:
            searched = [full if plan is None else plan
                        for full, plan in zip(searched, plans, strict=True)]
        found: list[list[Candidates]] = [[] for _ in images]
        # scaled pictures of one image at a time (tiles come image by image): memory stays
        # bounded by one frame's, whatever the batch
        pictures: tuple[int, _LevelPictures] | None = None
        for chunk in _chunks(searched, self.batch_tiles):
            cuts = []
            for i, tile in chunk:
                if pictures is None or pictures[0] != i:
                    pictures = (i, _LevelPictures(images[i], searched[i]))
                cuts.append(pictures[1].cut(tile))
            regressors, logits = self.model.run(_network_input(cuts))
            for (i, tile), cut, reg, logit in zip(chunk, cuts, regressors, logits):
                height, width = images[i].shape[:2]
                candidates = self._decode_tile(tile, cut, reg, logit, width, height)
                if candidates is not None:
                    found[i].append(candidates)
        return found

    def _decode_tile(
        self, tile: Tile, cut: _TileCut, reg: np.ndarray, logit: np.ndarray, width: int,
        height: int,
    ) -> Candidates | None:
        """Boxes, scores and keypoints in frame pixels of one tile's faces above the score
        threshold that this tile's level owns (``cut``: where its input was cut from); None
        when there are none."""
        scores = 1.0 / (1.0 + np.exp(-np.clip(logit[:, 0], -50, 50)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return None
        reg, anchors, scores = reg[keep] / INPUT, ANCHORS[keep], scores[keep]
        centre = reg[:, :2] + anchors
        half = reg[:, 2:4] / 2
        side = np.array([cut.side_x, cut.side_y], np.float32)
        boxes = np.concatenate([centre - half, centre + half], axis=1) * np.tile(side, 2)
        boxes += [cut.x, cut.y, cut.x, cut.y]
        kps = (reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * side
        kps += [cut.x, cut.y]
        if tile.level > 0:
            sizes = boxes[:, 2] - boxes[:, 0]
            ok = sizes <= tile.max_face
            ok &= ~tile.touches_inner_edge(boxes, width, height)
            boxes, scores, kps = boxes[ok], scores[ok], kps[ok]
        return boxes, scores, kps

    def merge(self, found: Sequence[Candidates], shape: tuple[int, ...]) -> FaceDetections:
        """One frame's faces from its tiles' candidates (``shape``: the frame's)."""
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
