"""A classifier's calibration: what ships beside its weights as ``<model>.calibration.json``.

Fitted by ``affectlens eval calibrate`` (affectlens/eval/calibration.py) on validation data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from affectlens.errors import ModelError

DEFAULT_TARGET_ACCURACY = 0.75
# Below this top probability a face is "uncertain" for a model with no fitted threshold, in
# analysis and in its evaluation alike.
UNCALIBRATED_MIN_CONFIDENCE = 0.4


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Calibration:
    """Logits are divided by ``temperature``; a top probability under ``abstain_below`` is
    'uncertain'. The defaults (T=1, never abstain) mean "not calibrated"."""

    temperature: float = 1.0
    abstain_below: float = 0.0
    target_accuracy: float = DEFAULT_TARGET_ACCURACY
    fitted_on: str = "not fitted"

    @property
    def threshold(self) -> float:
        """The abstention threshold in use: the fitted one, else UNCALIBRATED_MIN_CONFIDENCE."""
        return self.abstain_below or UNCALIBRATED_MIN_CONFIDENCE

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(logits) / self.temperature).astype(np.float32)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        if not path.is_file():
            return cls()
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:
            raise ModelError(f"{path}: not a valid calibration file ({error})") from error
