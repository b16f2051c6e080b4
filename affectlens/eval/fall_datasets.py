"""The fall datasets the evaluation knows, each read into one shape: labelled pose sequences.

- **URFD** (``URFD_normalized.json``, MD4FD): one lab, one camera at chest height, 640x480,
  30 fps; falls and daily activities.
- **Le2i Home** (``le2i/le2i_home_*.json``, MD4FD): other people, rooms and a high wall camera,
  320x240, 25 fps; falls and daily activities.
- **UP-Fall** (``upfall-skeletons/SUBJECT*.zip``): 5 people, two cameras (side and front),
  640x480, per-frame MediaPipe landmarks (33 joints); five kinds of fall, no daily activities.

Every sequence carries the number of the recording it was cut from (``groups``): windows of one
recording, or two cameras' views of one trial, are never split between training and test.

UP-Fall's published skeleton files have their rows in the order of their image files' names
sorted as text (frame 1, 10, 11, ... 19, 2, 20, ...) in most files, while others are in time
order; the per-frame labels are in time order but do not follow the rows. ``read_upfall``
therefore ignores the labels (every sequence is a fall), puts the rows back in time order where
the text order of frame numbers explains them better (less joint movement from row to row),
and marks as ``unordered`` any sequence whose joints still jump between rows: those are left
out of training and reported apart.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.falls import MD4FD_FILE, PoseSequence, read_md4fd, recordings

LE2I_FILES = ("le2i/le2i_home_01.json", "le2i/le2i_home_02.json")
LE2I_SIZE, LE2I_FPS = (320.0, 240.0), 25.0
UPFALL_FOLDER = "upfall-skeletons"
UPFALL_SIZE = (640.0, 480.0)
# UP-Fall's cameras delivered about 18 frames a second (Martinez-Villasenor et al. 2019); the
# skeleton files carry no time stamps, so speeds on UP-Fall rest on this figure.
UPFALL_FPS = 18.0
# MediaPipe's 33 landmarks (0-based) in FALL_JOINTS order: nose, shoulders L R, hips L R,
# knees L R, ankle R, ankle L, wrists L R.
MEDIAPIPE_TO_FALL = np.array([0, 11, 12, 23, 24, 25, 26, 28, 27, 15, 16])
_GEOMETRY = [0, 1, 2, 3, 4, 5, 6, 7, 8]  # wrists left out, as in fall_features.BODY
# A row-to-row move of the body joints larger than this share of the frame is a jump no body
# makes in 1/18 s; more than MAX_JUMPS of them and the sequence's order is not trusted.
JUMP_SHARE = 0.06
MAX_JUMPS = 2
_UPFALL_NAME = re.compile(r"C?(\d?)S(\d+)_?A(\d+)_?T(\d+)\.csv$", re.IGNORECASE)


@dataclass(frozen=True)
class FallDataset:
    """One dataset: its sequences, a recording number per sequence, and how it was read."""

    name: str
    sequences: list[PoseSequence]
    groups: np.ndarray
    fps: float
    note: str = ""
    unordered: frozenset[str] = frozenset()  # names of sequences whose time order is unsure
    size: tuple[float, float] = (640.0, 480.0)  # the camera's frame, pixels
    windows: bool = True  # sequences are overlapping windows of recordings (MD4FD): stitch

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.sequences], np.int64)

    @property
    def has_negatives(self) -> bool:
        return bool((self.labels == 0).any())

    def ordered(self) -> FallDataset:
        """Only the sequences whose time order is trusted."""
        keep = [i for i, s in enumerate(self.sequences) if s.name not in self.unordered]
        return FallDataset(self.name, [self.sequences[i] for i in keep], self.groups[keep],
                           self.fps, self.note, size=self.size, windows=self.windows)


def read_urfd(falls: Path) -> FallDataset:
    sequences = read_md4fd(falls / MD4FD_FILE)
    return FallDataset("URFD", sequences, recordings(sequences), 30.0,
                       "one lab, camera at chest height, 640x480, 30 fps")


def read_le2i(falls: Path) -> FallDataset:
    """Both Le2i Home files; a recording found in both files (home_01 holds one twice) is
    counted once per file, as its windows are not shared across files."""
    sequences: list[PoseSequence] = []
    for name in LE2I_FILES:
        tag = Path(name).stem.removeprefix("le2i_")
        sequences += [PoseSequence(f"{tag}/{s.name}", s.label, s.times, s.bodies)
                      for s in read_md4fd(falls / name, LE2I_SIZE, LE2I_FPS)]
    return FallDataset("Le2i", sequences, recordings(sequences), LE2I_FPS,
                       "home rooms, high wall camera, 320x240, 25 fps", size=LE2I_SIZE)


def read_upfall(folder: Path, fps: float = UPFALL_FPS) -> FallDataset:
    """Every ``C<cam>S<subject>A<activity>T<trial>.csv`` in the zips (or plain CSVs) of
    ``folder``; a trial's two camera views share one recording number."""
    files = sorted(_upfall_files(folder))
    if not files:
        raise InputError(f"{folder}: no UP-Fall skeleton CSVs (SUBJECT*.zip or *.csv)")
    sequences, groups, unordered = [], [], set()
    trials: dict[tuple[str, str, str], int] = {}
    for name, text in files:
        match = _UPFALL_NAME.search(name)
        if match is None:
            raise InputError(f"{folder}: {name} is not named C<cam>S<subject>A<act>T<trial>")
        _, subject, activity, trial = match.groups()
        landmarks = _upfall_landmarks(name, text)
        ordered = _time_order(landmarks)
        glitches = _glitches(ordered)
        seq_name = f"upfall/{Path(name).name.removesuffix('.csv')}"
        if _jumps(np.delete(ordered, glitches, axis=0)) > MAX_JUMPS:
            unordered.add(seq_name)
        score = np.ones((*ordered.shape[:2], 1))
        score[glitches] = 0.0  # a pose on another body for one frame: not seen
        body = np.concatenate([ordered * np.asarray(UPFALL_SIZE), score], axis=2)
        sequences.append(PoseSequence(seq_name, 1, np.arange(len(body)) / fps, body))
        groups.append(trials.setdefault((subject, activity, trial), len(trials)))
    return FallDataset("UP-Fall", sequences, np.array(groups), fps,
                       f"5 people, side and front cameras, 640x480, ~{fps:g} fps; falls only",
                       frozenset(unordered), UPFALL_SIZE, windows=False)


def load_fall_datasets(falls: Path, names: Iterable[str] = ("URFD", "Le2i", "UP-Fall")
                       ) -> list[FallDataset]:
    """The named datasets from a folder laid out as ../shared/data/falls."""
    readers = {"urfd": lambda: read_urfd(falls), "le2i": lambda: read_le2i(falls),
               "up-fall": lambda: read_upfall(falls / UPFALL_FOLDER)}
    out = []
    for name in names:
        reader = readers.get(name.lower())
        if reader is None:
            raise InputError(f"unknown fall dataset {name!r}; known: URFD, Le2i, UP-Fall")
        out.append(reader())
    return out


def _upfall_files(folder: Path) -> Iterable[tuple[str, str]]:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    for path in sorted(folder.glob("*.zip")):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if info.filename.lower().endswith(".csv"):
                        yield info.filename, archive.read(info).decode("utf-8", "replace")
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
    for path in sorted(folder.glob("*.csv")):
        yield path.name, path.read_text()


def _upfall_landmarks(name: str, text: str) -> np.ndarray:
    """(T, 11, 2) normalised x, y in FALL_JOINTS order from one CSV (33 x, y, z, LABEL)."""
    try:
        rows = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{name}: not numeric landmark rows: {exc}") from exc
    if rows.shape[1] < 99 or len(rows) < 3:
        raise InputError(f"{name}: expected rows of 33 x, y, z landmarks, got {rows.shape}")
    joints = rows[:, :99].reshape(len(rows), 33, 3)[:, MEDIAPIPE_TO_FALL, :2]
    return joints


def _steps(landmarks: np.ndarray) -> np.ndarray:
    """Mean move of the body joints from each row to the next, in shares of the frame."""
    return np.abs(np.diff(landmarks[:, _GEOMETRY], axis=0)).mean(axis=(1, 2))


def _jumps(landmarks: np.ndarray) -> int:
    return int((_steps(landmarks) > JUMP_SHARE).sum())


def _time_order(landmarks: np.ndarray) -> np.ndarray:
    """The rows in the order (as stored, or undoing a text sort of frame numbers from 0 or
    from 1) with the least joint movement between rows."""
    n = len(landmarks)
    candidates = []
    for order in (np.arange(n), _text_sorted(n, 0), _text_sorted(n, 1)):
        ordered = np.empty_like(landmarks)
        ordered[order] = landmarks  # row r of the file is frame order[r]
        candidates.append((float(_steps(ordered).sum()), ordered))
    return min(candidates, key=lambda c: c[0])[1]


def _glitches(landmarks: np.ndarray) -> np.ndarray:
    """Rows far from both neighbours while the neighbours agree: the pose model put the body
    somewhere else for one frame."""
    body = landmarks[:, _GEOMETRY]
    out = [i for i in range(1, len(body) - 1)
           if np.abs(body[i] - body[i - 1]).mean() > JUMP_SHARE
           and np.abs(body[i] - body[i + 1]).mean() > JUMP_SHARE
           and np.abs(body[i + 1] - body[i - 1]).mean() < JUMP_SHARE / 2]
    return np.array(out, np.int64)


def _text_sorted(n: int, start: int) -> np.ndarray:
    """Frame number (from 0) held by each row when frames start..start+n-1 are sorted as text."""
    names = sorted(str(i) for i in range(start, start + n))
    return np.array([int(name) - start for name in names])
