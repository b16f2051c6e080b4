"""Vocal expression data: labelled folders of speech, read for training and evaluation.

Two layouts: RAVDESS file names (``03-01-EE-II-SS-RR-AA.flac``: EE the expression, AA the
actor, odd male and even female), or ``<class>/<file>`` folders. The actor and the gender are
read here for one reason: to split by speaker and to report error per group; no model ever
sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from affectlens.errors import InputError
from affectlens.voice.audio import AUDIO_SUFFIXES
from affectlens.voice.model import VOICE_CLASSES

RAVDESS_CODES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                 "06": "fear", "07": "disgust", "08": "surprise"}
# Folder names as other datasets spell them -> ours.
ALIASES = {"anger": "angry", "fearful": "fear", "surprised": "surprise", "sadness": "sad",
           "happiness": "happy", "disgusted": "disgust", "calmness": "calm"}
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@dataclass
class VoiceSet:
    """Audio files with class indices into VOICE_CLASSES; speaker and gender where known
    (RAVDESS names), else None."""

    root: Path
    paths: list[Path]
    labels: list[int]
    speakers: list[str | None]
    genders: list[str | None]
    left_out: dict[str, int] = field(default_factory=dict)

    def subset(self, keep: list[bool]) -> VoiceSet:
        pick = [i for i, k in enumerate(keep) if k]
        return VoiceSet(self.root, [self.paths[i] for i in pick], [self.labels[i] for i in pick],
                        [self.speakers[i] for i in pick], [self.genders[i] for i in pick],
                        dict(self.left_out))


def ravdess_labels(path: Path) -> tuple[str, str, str] | None:
    """(class, actor, gender) from a RAVDESS speech file name, or None for another name."""
    match = _RAVDESS.match(path.stem)
    if not match or match.group(3) not in RAVDESS_CODES:
        return None
    actor = match.group(7)
    return RAVDESS_CODES[match.group(3)], f"actor{actor}", ("male" if int(actor) % 2 else
                                                              "female")


def read_voice_folder(root: Path) -> VoiceSet:
    """Every audio file under ``root``, labelled by its RAVDESS name or its class folder.
    Classes the model does not know are counted in ``left_out``; an unlabelled file is an
    error only if no file at all is labelled."""
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    out = VoiceSet(root, [], [], [], [])
    for path in files:
        known = ravdess_labels(path)
        if known:
            name, speaker, gender = known
        else:
            name = ALIASES.get(path.parent.name.lower(), path.parent.name.lower())
            speaker = gender = None
            if path.parent == root:
                continue
        if name not in VOICE_CLASSES:
            out.left_out[name] = out.left_out.get(name, 0) + 1
            continue
        out.paths.append(path)
        out.labels.append(VOICE_CLASSES.index(name))
        out.speakers.append(speaker)
        out.genders.append(gender)
    if not out.paths:
        raise InputError(
            f"{root}: no labelled audio ({', '.join(sorted(AUDIO_SUFFIXES))}) found: name files "
            "as RAVDESS does (03-01-05-01-01-01-12.wav) or put them in <class>/ folders of "
            f"{', '.join(VOICE_CLASSES)}"
        )
    return out
