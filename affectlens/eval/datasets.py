"""Readers for the evaluation sets: class folders of face images, and UTKFace file names."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from affectlens.errors import InputError
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


def is_held_out(path: Path | str, share: int = 10) -> bool:
    """One file in ``share``, chosen by a hash of its name: the same split on every machine."""
    return zlib.crc32(Path(path).name.encode()) % share == 0


@dataclass
class ExpressionSet:
    """Images with labels as indices into EXPRESSIONS; classes we do not predict are set aside."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def subset(self, keep: list[bool]) -> ExpressionSet:
        return ExpressionSet(
            self.root,
            [p for p, k in zip(self.paths, keep) if k],
            [y for y, k in zip(self.labels, keep) if k],
            dict(self.left_out),
        )


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
