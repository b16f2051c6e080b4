"""Readers for the evaluation sets: class folders of face images, and UTKFace file names;
which public dataset a folder holds (by its files' naming scheme), and which images a model
was trained on (by its training manifest)."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from affectlens.errors import InputError
from affectlens.models.runtime import float_path
from affectlens.sources.base import IMAGE_SUFFIXES
from affectlens.types import EXPRESSIONS

log = logging.getLogger(__name__)

# Folder names used by public expression datasets -> affectlens's labels.
CLASS_ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
}

# UTKFace's documented codes. Read by the fairness audit only.
UTK_GENDERS = {0: "male", 1: "female"}
UTK_RACES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}


class DataKind(StrEnum):
    """Public datasets whose limits a card states; ``other`` is data the card cannot describe."""

    fer2013 = "fer2013"
    ferplus = "ferplus"
    ckplus = "ckplus"
    utkface = "utkface"
    other = "other"


# How each dataset names its files (the folder's name says nothing: anyone can call a folder
# "utkface"). FER2013's Kaggle release: Training_/PublicTest_/PrivateTest_<n>; FERPlus's PNGs:
# fer<7 digits>; CK+: S<subject>_<sequence>_<frame>; UTKFace: <age>_<gender>_<race>_<15-17 digit
# capture time>.
NAMING: dict[DataKind, re.Pattern[str]] = {
    DataKind.fer2013: re.compile(r"(Training|PublicTest|PrivateTest)_\d+\.\w+$"),
    DataKind.ferplus: re.compile(r"fer\d{7}\.png$"),
    DataKind.ckplus: re.compile(r"S\d{3}_\d{3}_\d{8}\.\w+$"),
    DataKind.utkface: re.compile(r"\d{1,3}_[01]_[0-4]_\d{15,17}\.jpg(\.chip\.jpg)?$"),
}
LAYOUT_SHARE = 0.95  # of a folder's images that must follow one naming scheme


def detect_kind(paths: Iterable[Path | str]) -> DataKind:
    """The dataset whose naming scheme at least 95% of these files follow, else ``other``."""
    names = [Path(p).name for p in paths]
    for kind, pattern in NAMING.items():
        if names and sum(bool(pattern.match(n)) for n in names) >= LAYOUT_SHARE * len(names):
            return kind
    return DataKind.other


def name_digest(name: str) -> str:
    """A file name's short SHA-1: manifests list what a model saw without holding the names
    (UTKFace's carry age, gender and race labels)."""
    return hashlib.sha1(name.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainingManifest:
    """The images a model was trained on or tuned with, as digests of their file names.

    Written beside the weights (``<model>.training.json``) by the training script, so that an
    evaluation can say how many of the images it scores the model has seen, whatever their
    folder is called, and stay quiet on data the model never saw.
    """

    data: str  # in words, e.g. "four fifths of utkface-dev"
    digests: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str], data: str) -> TrainingManifest:
        return cls(data, frozenset(name_digest(n) for n in names))

    @staticmethod
    def path_beside(weights: Path) -> Path:
        """``<model>.training.json`` beside the weights; an int8 form's is its float graph's
        (it was trained as that graph was)."""
        weights = float_path(weights)
        return weights.with_name(f"{weights.stem}.training.json")

    @classmethod
    def beside(cls, weights: Path) -> TrainingManifest | None:
        """The manifest shipped with these weights; None where the model has none (then
        whether it saw an image cannot be checked)."""
        path = cls.path_beside(weights)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
            return cls(str(raw["data"]), frozenset(raw["name_sha1_16"]))
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a training manifest ({error})") from None

    def write(self, weights: Path) -> Path:
        path = self.path_beside(weights)
        path.write_text(json.dumps({"data": self.data, "images": len(self.digests),
                                    "name_sha1_16": sorted(self.digests)}, indent=0) + "\n")
        return path

    def seen(self, paths: Iterable[Path | str]) -> int:
        """How many of these files the model was trained on (matched by file name)."""
        return sum(name_digest(Path(p).name) in self.digests for p in paths)


@dataclass(frozen=True)
class Seen:
    """How many of the evaluated images a model was trained on, and on what, in words."""

    images: int
    trained_on: str

    @classmethod
    def check(cls, weights: Path, paths: Iterable[Path | str]) -> Seen | None:
        """By the manifest beside ``weights``; None where the model ships none."""
        manifest = TrainingManifest.beside(weights)
        return None if manifest is None else cls(manifest.seen(paths), manifest.data)


def is_held_out(path: Path | str, share: int = 10) -> bool:
    """One file in ``share``, chosen by a hash of its name: the same split on every machine."""
    return zlib.crc32(Path(path).name.encode()) % share == 0


@dataclass
class ExpressionSet:
    """Images with labels as indices into EXPRESSIONS; classes we do not predict are set aside."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # NO_MAJORITY where votes name none
    left_out: dict[str, int] = field(default_factory=dict)
    # FERPlus: (images, 7) annotator votes in EXPRESSIONS order; None for class folders.
    votes: np.ndarray | None = None

    def subset(self, keep: list[bool]) -> ExpressionSet:
        return ExpressionSet(
            self.root,
            [p for p, k in zip(self.paths, keep) if k],
            [y for y, k in zip(self.labels, keep) if k],
            dict(self.left_out),
            None if self.votes is None else self.votes[np.asarray(keep, bool)],
        )


# FERPlus label.csv: file, face box, then votes in this order (of 10 annotators in all).
FERPLUS_COLUMNS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear",
                   "contempt", "unknown", "not a face")
FERPLUS_LABELS = "label.csv"
NO_MAJORITY = -1  # a FERPlus image whose votes name no one class of ours (see read_ferplus)


def is_ferplus_folder(root: Path) -> bool:
    """FERPlus's layout: the PNGs and a ``label.csv`` of votes side by side in one folder."""
    return (Path(root) / FERPLUS_LABELS).is_file()


def read_ferplus(root: Path) -> ExpressionSet:
    """A FERPlus folder (``valid/``: PNGs + label.csv, no header): every image's votes for our
    seven classes, and its majority label where there is one.

    The majority label is the class with the most votes of all ten columns. An image is kept for
    the vote figures but has no majority label (NO_MAJORITY) where the top count is shared by
    two classes (a tie; counted as ``tied top vote``). It is left out altogether where
    ``unknown`` or ``not a face`` has the most votes (or shares the top), or none of its votes is
    for our seven classes. ``contempt`` votes are dropped: the model has no contempt class,
    and mapping it to disgust or anger would score the model against a label no annotator gave;
    an image whose top vote is contempt is left out of the majority figures (``contempt``).
    """
    root = Path(root)
    labels = root / FERPLUS_LABELS
    if not labels.is_file():
        raise InputError(f"{root}: no {FERPLUS_LABELS}; a FERPlus folder holds the PNGs and "
                         "label.csv (file, face box, 10 vote counts)")
    ours = [FERPLUS_COLUMNS.index(c) for c in EXPRESSIONS]
    dataset = ExpressionSet(root, left_out={"unknown or not a face": 0, "tied top vote": 0,
                                            "contempt": 0, "no image file": 0})
    rows: list[list[int]] = []
    with labels.open(newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            try:
                counts = [int(v) for v in row[2:]]
            except ValueError:
                counts = []
            if len(counts) != len(FERPLUS_COLUMNS) or min(counts) < 0:
                raise InputError(f"{labels}:{line}: expected file, face box and "
                                 f"{len(FERPLUS_COLUMNS)} vote counts, got {row!r}")
            path = root / row[0]
            if not path.is_file():
                dataset.left_out["no image file"] += 1
                continue
            top = max(counts)
            leaders = [FERPLUS_COLUMNS[i] for i, c in enumerate(counts) if c == top]
            mine = [counts[i] for i in ours]
            if top == 0 or {"unknown", "not a face"} & set(leaders) or not any(mine):
                dataset.left_out["unknown or not a face"] += 1
                continue
            label = NO_MAJORITY
            if len(leaders) > 1:
                dataset.left_out["tied top vote"] += 1
            elif leaders == ["contempt"]:
                dataset.left_out["contempt"] += 1
            else:
                label = EXPRESSIONS.index(leaders[0])
            dataset.paths.append(path)
            dataset.labels.append(label)
            rows.append(mine)
    if not dataset.paths:
        raise InputError(f"{labels}: no image with votes for {', '.join(EXPRESSIONS)}")
    dataset.votes = np.array(rows, np.float64)
    dataset.left_out = {k: n for k, n in dataset.left_out.items() if n}
    return dataset


def read_expressions(root: Path) -> ExpressionSet:
    """Either layout: FERPlus (label.csv of votes beside the images) or class folders."""
    return read_ferplus(root) if is_ferplus_folder(root) else read_expression_folder(root)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_expression_folder(root: Path) -> ExpressionSet:
    """``root/<class>/<image>``; class names are mapped (anger->angry, sadness->sad...)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; expected <class>/<image> sub-folders")
    dataset = ExpressionSet(root)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = _images_in(folder)
        label = CLASS_ALIASES.get(folder.name.lower())
        if label is None:
            dataset.left_out[folder.name] = len(images)
            continue
        dataset.paths += images
        dataset.labels += [EXPRESSIONS.index(label)] * len(images)
    if not dataset.paths:
        raise InputError(
            f"{root}: no images in class folders named like {', '.join(EXPRESSIONS)}"
        )
    return dataset


@dataclass
class AgeSet:
    """UTKFace-style images with ages, and group labels for the audit only."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    ages: list[int] = field(default_factory=list)
    genders: list[str] = field(default_factory=list)
    races: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    def subset(self, keep: list[bool]) -> AgeSet:
        def pick(values: list) -> list:
            return [v for v, k in zip(values, keep) if k]

        return AgeSet(self.root, pick(self.paths), pick(self.ages), pick(self.genders),
                      pick(self.races), list(self.malformed))


def read_people(table: Path, paths: list[Path]) -> list[str]:
    """Who is in each image, from a CSV of ``file name,person id`` lines: the audit then
    resamples people, not images. Every image must be named; an id is only a label (never a
    face template: nothing here recognises anyone)."""
    table = Path(table)
    if not table.is_file():
        raise InputError(f"--people {table}: no such file")
    with table.open(newline="") as f:
        ids = {row[0].strip(): row[1].strip() for row in csv.reader(f) if len(row) >= 2}
    missing = [p.name for p in paths if p.name not in ids]
    if missing:
        raise InputError(f"--people {table}: {len(missing)} of the {len(paths)} images have no "
                         f"person id (first: {missing[0]}); give one line per image")
    return [ids[p.name] for p in paths]


def parse_utkface_name(name: str) -> tuple[int, str, str] | None:
    """``<age>_<gender>_<race>_<datetime>.jpg...`` -> (age, gender, race); None if malformed."""
    fields = name.split("_")
    if len(fields) != 4:
        return None
    try:
        age, gender, race = int(fields[0]), int(fields[1]), int(fields[2])
    except ValueError:
        return None
    if not 0 <= age <= 120 or gender not in UTK_GENDERS or race not in UTK_RACES:
        return None
    return age, UTK_GENDERS[gender], UTK_RACES[race]


def read_utkface(root: Path) -> AgeSet:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of UTKFace images")
    dataset = AgeSet(root)
    for path in _images_in(root):
        parsed = parse_utkface_name(path.name)
        if parsed is None:
            dataset.malformed.append(path.name)
            continue
        dataset.paths.append(path)
        dataset.ages.append(parsed[0])
        dataset.genders.append(parsed[1])
        dataset.races.append(parsed[2])
    if dataset.malformed:
        log.warning(
            "%s: %d file names are not <age>_<gender>_<race>_<date>; skipped (first: %s)",
            root, len(dataset.malformed), dataset.malformed[0],
        )
    if not dataset.paths:
        raise InputError(f"{root}: no image named <age>_<gender>_<race>_<date>.jpg")
    return dataset


def fer2013_twins(paths: list[Path], fer2013: Path) -> list[Path]:
    """For each FERPlus image, the same image in a FER2013 class folder (its name picks the
    validation tenth, its folder is FER2013's own label).

    A model trained on FER2013 has seen nine tenths of FERPlus's images under their FER2013
    names; validating on the FERPlus images whose FER2013 twin was in its own validation tenth
    keeps the validation split unseen (training/train_expression.py ``--validation-like``).
    FERPlus names carry the row of fer2013.csv, the folder's names a random number, so images
    are matched by their pixels (the folder's JPEG against FERPlus's lossless PNG: nearest
    neighbour on 16x16 means, normalised).
    """
    def signatures(files: list[Path]) -> np.ndarray:
        small = np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (16, 16),
                                     interpolation=cv2.INTER_AREA) for p in files])
        x = small.reshape(len(files), -1).astype(np.float32)
        x -= x.mean(1, keepdims=True)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)

    theirs = read_expression_folder(fer2013).paths
    ref, query = signatures(theirs), signatures(paths)
    best, score = [], []
    for start in range(0, len(query), 2048):
        similarity = query[start : start + 2048] @ ref.T
        best.append(similarity.argmax(1))
        score.append(similarity.max(1))
    found, similarity = np.concatenate(best), np.concatenate(score)
    log.info("matched %d FERPlus images to FER2013 ones: median similarity %.4f, %d below 0.98",
             len(paths), np.median(similarity), int((similarity < 0.98).sum()))
    return [theirs[i] for i in found]
