"""Vocal expression data and evaluation: labelled folders of speech, read for training and
``affectlens eval voice``, and every figure its card shows.

Two layouts: RAVDESS file names (``03-01-EE-II-SS-RR-AA.flac``: EE the expression, AA the
actor, odd male and even female), or ``<class>/<file>`` folders. The actor and the gender are
read here for one reason: to split by speaker and to report error per group; no model ever
sees them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import InputError
from affectlens.eval.card import Card, interval, pct
from affectlens.eval.metrics import (
    accuracy,
    bootstrap_interval,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_recall,
    reliability,
    selective_accuracy,
)
from affectlens.eval.plots import confusion_plot, reliability_diagram
from affectlens.models.calibration import Calibration
from affectlens.voice.audio import AUDIO_SUFFIXES, read_audio
from affectlens.voice.engine import VoiceAnalyser
from affectlens.voice.model import (
    AROUSAL_WEIGHTS,
    VALENCE_WEIGHTS,
    VOICE_CLASSES,
    arousal_valence,
)

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


@dataclass
class VoicePredictions:
    """Per readable file: uncalibrated logits averaged over its speech windows (zeros where the
    VAD found no speech), the true class, whether speech was found, and each file's group."""

    truth: np.ndarray
    logits: np.ndarray
    found: np.ndarray
    genders: list[str | None]
    unreadable: list[Path] = field(default_factory=list)


def predict_voice(dataset: VoiceSet, analyser: VoiceAnalyser,
                  progress: Callable[[int], None] | None = None) -> VoicePredictions:
    """Each file as analysis sees it: VAD, 1-4 s windows, features; the windows' logits are
    averaged into one answer per file. A file with no speech found is a miss."""
    truth, logits, found, genders, unreadable = [], [], [], [], []
    classes = len(VOICE_CLASSES)
    for path, label, gender in zip(dataset.paths, dataset.labels, dataset.genders):
        try:
            audio = read_audio(path)
        except InputError:
            audio = None
        if audio is None:
            unreadable.append(path)
        else:
            spans = analyser.windows(audio)
            x = analyser.features(audio, spans)
            found.append(len(spans) > 0)
            logits.append(analyser.classifier.logits(x).mean(0) if len(spans)
                          else np.zeros(classes, np.float32))
            truth.append(label)
            genders.append(gender)
        if progress:
            progress(1)
    return VoicePredictions(np.array(truth, int), np.array(logits, np.float32).reshape(-1, classes),
                            np.array(found, bool), genders, unreadable)


@dataclass
class GroupFigures:
    name: str
    files: int
    accuracy: float
    macro_f1: float
    arousal_accuracy: float


@dataclass
class VoiceReport:
    model: str
    data: str
    files: int
    no_speech: int
    left_out: dict[str, int]
    classes: list[str]
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    recall: dict[str, float]
    confusion: list[list[int]]
    ece_uncalibrated: float
    ece: float
    ece_ci: tuple[float, float]
    temperature: float
    abstain_below: float
    coverage: float
    covered_accuracy: float
    arousal_accuracy: float
    valence_accuracy: float
    groups: list[GroupFigures]
    reliability: dict[str, list[float]] = field(repr=False)
    unreadable_files: int = 0
    ravdess_names: bool = False  # every file named as RAVDESS names them


def _signed_accuracy(scores: np.ndarray, truth_sign: np.ndarray) -> float:
    """Share of files whose score has the sign of their class (classes with sign 0 left out)."""
    keep = truth_sign != 0
    return float((np.sign(scores[keep]) == truth_sign[keep]).mean()) if keep.any() else math.nan


def evaluate_voice(predictions: VoicePredictions, calibration: Calibration, *, model: str,
                   data: str, left_out: dict[str, int], resamples: int = 1000) -> VoiceReport:
    """Every figure over every readable file (no speech found counts wrong); calibration,
    coverage, arousal and valence over the files where speech was found."""
    truth, found = predictions.truth, predictions.found
    if not found.any():
        raise InputError(f"{data}: no speech found in any of its {len(truth)} audio files; are "
                         "they recordings of speech?")
    predicted = np.where(found, predictions.logits.argmax(1), -1)
    present = sorted(set(truth.tolist()))
    probs = calibration.probabilities(predictions.logits[found])
    raw = Calibration().probabilities(predictions.logits[found])
    seen = truth[found]
    bins = reliability(probs, seen)
    coverage, covered = selective_accuracy(probs, seen, calibration.threshold)
    arousal, valence = arousal_valence(probs)
    recall = per_class_recall(truth, predicted, len(VOICE_CLASSES))
    return VoiceReport(
        model=model, data=data, files=len(truth), no_speech=int((~found).sum()),
        left_out=left_out, classes=[VOICE_CLASSES[c] for c in present],
        accuracy=accuracy(truth, predicted),
        accuracy_ci=bootstrap_interval(accuracy, truth, predicted, resamples=resamples),
        macro_f1=macro_f1(truth, predicted, present),
        macro_f1_ci=bootstrap_interval(lambda t, p: macro_f1(t, p, present), truth, predicted,
                                       resamples=resamples),
        recall={VOICE_CLASSES[c]: float(recall[c]) for c in present},
        confusion=confusion_matrix(truth, predicted, len(VOICE_CLASSES)).tolist(),
        ece_uncalibrated=expected_calibration_error(raw, seen), ece=bins.ece,
        ece_ci=bootstrap_interval(expected_calibration_error, probs, seen, resamples=resamples),
        temperature=calibration.temperature, abstain_below=calibration.threshold,
        coverage=coverage, covered_accuracy=covered,
        arousal_accuracy=_signed_accuracy(arousal, AROUSAL_WEIGHTS[seen]),
        valence_accuracy=_signed_accuracy(valence, VALENCE_WEIGHTS[seen]),
        groups=_by_gender(predictions, predicted, present),
        reliability={"confidence": np.nan_to_num(bins.confidence).tolist(),
                     "accuracy": np.nan_to_num(bins.accuracy).tolist(),
                     "count": bins.count.tolist()},
        unreadable_files=len(predictions.unreadable),
        ravdess_names=all(g is not None for g in predictions.genders),
    )


def _by_gender(predictions: VoicePredictions, predicted: np.ndarray, present: list[int]
               ) -> list[GroupFigures]:
    """Per gender label of the data (audit only; the model never sees it)."""
    genders = np.array([g or "" for g in predictions.genders])
    out = []
    for name in sorted(set(genders.tolist()) - {""}):
        rows = genders == name
        t, p = predictions.truth[rows], predicted[rows]
        arousal, _ = arousal_valence(Calibration().probabilities(predictions.logits[rows]))
        sign = AROUSAL_WEIGHTS[t]
        out.append(GroupFigures(name, int(rows.sum()), accuracy(t, p), macro_f1(t, p, present),
                                _signed_accuracy(arousal[p >= 0], sign[p >= 0])))
    return out


def voice_card(report: VoiceReport, command: str) -> Card:
    card = Card(f"Voice model {report.model} on {Path(report.data).name}", command)
    card.text(
        f"{report.files} audio files from {report.data}, each analysed as `affectlens analyze` "
        "does (WebRTC VAD, 1-4 s windows; the windows' logits averaged into one answer per "
        f"file); {report.no_speech} files where no speech was found count as errors in "
        "accuracy, macro-F1 and recall, while calibration (ECE), coverage, arousal and valence "
        "are over the files with speech. Intervals are 95% bootstrap intervals over files."
        + (f" {report.unreadable_files} files that are not readable audio are left out."
           if report.unreadable_files else ""))
    if report.left_out:
        card.text("Classes this model does not predict, left out: " + ", ".join(
            f"{name} ({n} files)" for name, n in report.left_out.items()))
    card.heading("Summary")
    card.table(["measure", "value", "95% interval"], [
        ["accuracy (8 classes)", pct(report.accuracy), interval(report.accuracy_ci)],
        ["macro-F1", f"{report.macro_f1:.3f}", interval(report.macro_f1_ci, percent=False)],
        ["ECE (15 bins), calibrated", f"{report.ece:.3f}", interval(report.ece_ci, False)],
        ["ECE before calibration", f"{report.ece_uncalibrated:.3f}", ""],
        ["temperature", f"{report.temperature:.3f}", ""],
        [f"coverage at confidence >= {report.abstain_below:.2f}", pct(report.coverage), ""],
        ["accuracy on covered files", pct(report.covered_accuracy), ""],
        ["arousal accuracy (aroused vs calm)", pct(report.arousal_accuracy), ""],
        ["valence accuracy (positive vs negative)", pct(report.valence_accuracy), ""],
    ])
    card.heading("Recall per class")
    card.table(["class", "recall"], [[c, pct(r)] for c, r in report.recall.items()])
    if report.groups:
        card.heading("Per group (audit only: no model sees these labels)")
        card.table(["group", "files", "accuracy", "macro-F1", "arousal accuracy"], [
            [g.name, str(g.files), pct(g.accuracy), f"{g.macro_f1:.3f}",
             pct(g.arousal_accuracy)] for g in report.groups])
    card.heading("Confusion and calibration")
    card.image("confusion.png", confusion_plot(report.confusion, list(VOICE_CLASSES),
                                               report.classes), "confusion matrix")
    rel = report.reliability
    card.image("reliability.png", reliability_diagram(
        rel["confidence"], rel["accuracy"], rel["count"], report.ece,
        f"{report.model}, calibrated (T={report.temperature:.2f})"), "reliability diagram")
    card.heading("Limits")
    card.text(RAVDESS_LIMITS if report.ravdess_names else OTHER_LIMITS)
    return card


RAVDESS_LIMITS = (
    "RAVDESS: 24 actors reading two fixed sentences in a studio, North American English, "
    "acted and exaggerated expressions. The shipped voice model was trained on 20 of these "
    "actors and calibrated on the other 4, so its figures here flatter it: the fair figures "
    "are benchmarks/voice.py's cross-validation by actor. Licence CC BY-NC-SA 4.0: research only."
)
OTHER_LIMITS = (
    "Describe this data's speakers (ages, languages, accents), recording conditions and how "
    "its labels were made before relying on a figure. The model learnt acted North American "
    "English; expect lower figures on spontaneous speech and other languages."
)
