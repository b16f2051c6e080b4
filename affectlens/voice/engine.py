"""One input's audio -> rows of voice.csv: find speech, cut windows, classify, say uncertain.

Only what the classifier says about how the voice sounds leaves here: times, the share of
speech, class probabilities, a label or ``uncertain``, arousal and valence. No audio, no
transcript, no speaker embedding or voice print, nothing that tells one speaker from another.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectlens.errors import InputError
from affectlens.models.runtime import Device
from affectlens.types import UNCERTAIN
from affectlens.voice.audio import Audio, read_audio
from affectlens.voice.features import FEATURE_NAMES, SAMPLE_RATE, overlapping_features
from affectlens.voice.model import VOICE_CLASSES, VoiceClassifier, arousal_valence
from affectlens.voice.settings import VoiceSettings
from affectlens.voice.vad import Window, speech_flags, windows

log = logging.getLogger(__name__)
VOICE_PROB_COLUMNS = [f"p_{name}" for name in VOICE_CLASSES]
VOICE_COLUMNS = ["source", "start_s", "end_s", "speech_probability", *VOICE_PROB_COLUMNS,
                 "label", "confidence", "arousal", "valence"]


@dataclass
class VoiceOutput:
    """voice.csv's rows for every input, and one status line per input for the summary."""

    windows: pd.DataFrame
    sources: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "sources": self.sources}


class VoiceAnalyser:
    """Holds the classifier; ``analyse(path)`` gives one input's rows and its status line."""

    def __init__(self, settings: VoiceSettings, device: Device = "cpu", threads: int = 0,
                 classifier: VoiceClassifier | None = None) -> None:
        self.settings = settings
        self.classifier = classifier or VoiceClassifier(device, threads)
        self.threshold = (settings.min_confidence if settings.min_confidence is not None
                          else self.classifier.calibration.threshold)

    def analyse(self, path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Rows of one file, and its summary entry. A file without an audio track is not an
        error: its entry says so. Unreadable audio raises InputError (one line)."""
        audio = read_audio(path)
        if audio is None:
            return [], {"source": str(path), "status": "no audio track", "audio_s": 0.0,
                        "speech_s": 0.0, "windows": 0}
        rows = self.rows(str(path), audio)
        return rows, _status(str(path), audio, rows)

    def windows(self, audio: Audio) -> list[Window]:
        """The 1-4 s windows of speech the VAD finds in ``audio``."""
        s = self.settings
        return windows(speech_flags(audio.samples, s.vad_aggressiveness), min_s=s.min_window_s,
                       max_s=s.max_window_s, length_s=s.window_s, hop_s=s.hop_s,
                       bridge_s=s.bridge_s)

    @staticmethod
    def features(audio: Audio, found: list[Window]) -> np.ndarray:
        """(windows, features) for the classifier: each window's ``window_features``, those
        of a run of overlapping windows (one long stretch of speech) from one spectrogram and
        F0 track over the run."""
        if not found:
            return np.zeros((0, len(FEATURE_NAMES)), np.float32)
        out = []
        for run in _overlapping(found):
            cuts = [(int(w.start_s * SAMPLE_RATE), int(w.end_s * SAMPLE_RATE)) for w in run]
            low, high = min(a for a, _ in cuts), max(b for _, b in cuts)
            out.append(overlapping_features(audio.samples[low:high],
                                            [(a - low, b - low) for a, b in cuts]))
        return np.concatenate(out)

    def rows(self, source: str, audio: Audio) -> list[dict[str, Any]]:
        found = self.windows(audio)
        if not found:
            return []
        features = self.features(audio, found)
        probs = self.classifier.predict(features)
        arousal, valence = arousal_valence(probs)
        rows = []
        for w, p, a, v in zip(found, probs, arousal, valence):
            top = int(p.argmax())
            row: dict[str, Any] = {
                "source": source,
                "start_s": round(audio.start_s + w.start_s, 3),
                "end_s": round(audio.start_s + w.end_s, 3),
                "speech_probability": round(w.speech, 4),
            }
            row.update(zip(VOICE_PROB_COLUMNS, (float(x) for x in p)))
            row.update(label=VOICE_CLASSES[top] if p[top] >= self.threshold else UNCERTAIN,
                       confidence=float(p[top]), arousal=float(a), valence=float(v))
            rows.append(row)
        return rows


def _overlapping(found: list[Window]) -> list[list[Window]]:
    """``found``, in its order, as runs of consecutive windows that overlap."""
    runs: list[list[Window]] = []
    reach = -np.inf
    for w in found:
        if runs and w.start_s < reach:
            runs[-1].append(w)
            reach = max(reach, w.end_s)
        else:
            runs.append([w])
            reach = w.end_s
    return runs


def _status(source: str, audio: Audio, rows: list[dict[str, Any]]) -> dict[str, Any]:
    labels = Counter(r["label"] for r in rows)
    entry: dict[str, Any] = {
        "source": source,
        "status": "analysed" if rows else "no speech found",
        "audio_s": round(audio.seconds, 2),
        "speech_s": round(_covered(rows), 2),
        "windows": len(rows),
    }
    if rows:
        entry["label_mix"] = {k: round(n / len(rows), 4) for k, n in sorted(labels.items())}
        entry["mean_arousal"] = round(float(np.mean([r["arousal"] for r in rows])), 4)
        entry["mean_valence"] = round(float(np.mean([r["valence"] for r in rows])), 4)
    return entry


def _covered(rows: list[dict[str, Any]]) -> float:
    """Seconds covered by the windows (overlaps counted once)."""
    total, reach = 0.0, -np.inf
    for r in sorted(rows, key=lambda r: r["start_s"]):
        start = max(r["start_s"], reach)
        if r["end_s"] > start:
            total += r["end_s"] - start
        reach = max(reach, r["end_s"])
    return total


def voice_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=VOICE_COLUMNS)


def analyse_inputs(paths: list[Path], analyser: VoiceAnalyser) -> VoiceOutput:
    """Every input's audio; an unreadable one (or one the voice path fails on) gets an error
    entry and the others go on."""
    rows: list[dict[str, Any]] = []
    sources = []
    for path in paths:
        try:
            found, entry = analyser.analyse(path)
        except InputError as exc:
            found, entry = [], {"source": str(path), "status": "error", "message": str(exc)}
        except Exception as exc:  # a fault in the voice path must not stop the faces' analysis
            log.exception("voice analysis of %s failed", path)
            found, entry = [], {"source": str(path), "status": "error",
                                "message": f"{path}: voice analysis failed ({exc})"}
        rows += found
        sources.append(entry)
    return VoiceOutput(voice_table(rows), sources, analyser.classifier.name)
