"""The vocal expression classifier: window features in, calibrated probabilities out.

``affectlens_voice.onnx`` is the project's own network, trained by training/train_voice.py on
RAVDESS (research-only data: see affectlens/models/cards/affectlens_voice.md). Its input is the
vector of ``affectlens.voice.features.window_features`` (standardisation is inside the graph);
its output, logits over VOICE_CLASSES. The calibration beside it (temperature and abstention
threshold) was fitted on held-out actors, as the face model's is on held-out images.

Arousal and valence are read off the class probabilities as two coarse scores in [-1, 1]:
the expected value of each class's place on Russell's circumplex (AROUSAL, VALENCE). They are
coarser than the classes on purpose: they carry across speakers better.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectlens.models.calibration import Calibration
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel
from affectlens.voice.features import FEATURE_NAMES

VOICE_CLASSES: tuple[str, ...] = (
    "angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise",
)
# +1 aroused / positive, -1 calm / negative, 0 where the class does not say (those classes
# are left out when arousal or valence accuracy is measured).
AROUSAL = {"angry": 1, "calm": -1, "disgust": 0, "fear": 1, "happy": 1, "neutral": -1,
           "sad": -1, "surprise": 1}
VALENCE = {"angry": -1, "calm": 1, "disgust": -1, "fear": -1, "happy": 1, "neutral": 0,
           "sad": -1, "surprise": 0}
AROUSAL_WEIGHTS = np.array([AROUSAL[c] for c in VOICE_CLASSES], np.float32)
VALENCE_WEIGHTS = np.array([VALENCE[c] for c in VOICE_CLASSES], np.float32)
VOICE_MODEL = "affectlens_voice"


def arousal_valence(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(arousal, valence), each (N,) in [-1, 1], from (N, classes) probabilities."""
    return probs @ AROUSAL_WEIGHTS, probs @ VALENCE_WEIGHTS


class VoiceClassifier:
    """predict(features) -> (N, 8) calibrated probabilities in VOICE_CLASSES order.

    One thread unless ``threads`` names more: the network is so small that starting and
    waking a pool of threads costs more than the work it would share, so 0 (AnalysisConfig's
    "all cores") also means one here.
    """

    labels = VOICE_CLASSES

    def __init__(self, device: Device = "cpu", threads: int = 1,
                 weights: Path | None = None) -> None:
        self.path = weights or WEIGHTS_DIR / f"{VOICE_MODEL}.onnx"
        self.name = self.path.stem
        self.model = OnnxModel(self.path, device, threads or 1)
        self.calibration = Calibration.load(self.calibration_path)

    @property
    def calibration_path(self) -> Path:
        return self.path.with_name(f"{self.name}.calibration.json")

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, len(FEATURE_NAMES)) window features -> (N, 8) uncalibrated logits."""
        if len(features) == 0:
            return np.zeros((0, len(VOICE_CLASSES)), np.float32)
        if features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {features.shape[1]}")
        return self.model.run(features)[0].astype(np.float32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.calibration.probabilities(self.logits(features))
