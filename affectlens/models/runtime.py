"""ONNX Runtime sessions on the CPU or a CUDA GPU, and where the weight files live."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from affectlens.errors import ModelError

Device = Literal["cpu", "cuda", "auto"]
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def providers_for(device: Device) -> list[str]:
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelError(
            "--device cuda asked for, but this onnxruntime has no CUDA provider "
            f"(it has {', '.join(available)}); install affectlens[gpu] on a machine with CUDA"
        )
    return ["CPUExecutionProvider"]


def open_session(path: Path, device: Device = "cpu", threads: int = 0) -> ort.InferenceSession:
    """An inference session; threads=0 lets ONNX Runtime use every core."""
    if not path.is_file():
        raise ModelError(f"model weights not found: {path} (reinstall affectlens)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers_for(device))


def packaged_weights(package: str, relative: str) -> Path:
    """A weight file inside an installed package, found without importing the package's code."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; it carries {relative}")
    return Path(next(iter(spec.submodule_search_locations))) / relative


class OnnxModel:
    """One ONNX graph with a single input; ``run`` feeds a batch and returns every output."""

    def __init__(self, path: Path, device: Device = "cpu", threads: int = 0) -> None:
        self.session = open_session(path, device, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.path = path

    @property
    def device(self) -> str:
        return "cuda" if self.session.get_providers()[0].startswith("CUDA") else "cpu"

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})
