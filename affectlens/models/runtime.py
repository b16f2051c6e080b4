"""ONNX Runtime sessions on the CPU or a CUDA GPU, and where the weight files live."""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from affectlens.errors import ModelError

log = logging.getLogger(__name__)

Device = Literal["cpu", "cuda", "auto"]
# int8: a model's integer form where one ships (tools/quantize_models.py), on the CPU only
Precision = Literal["int8", "float"]
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


GPU_INSTALL = "docs/deployment.md#gpu-nodes"  # the one command that installs the GPU build


def int8_path(path: Path) -> Path:
    """Where the int8 form of the float graph ``path`` is kept: ``<name>.int8.onnx``."""
    return path.with_suffix(".int8.onnx")


def float_path(path: Path) -> Path:
    """The float graph whose int8 form ``path`` is (``path`` itself if it is a float graph):
    what a model's card, calibration and training manifest are named after."""
    return path.with_name(path.name.replace(".int8.onnx", ".onnx"))


def is_int8(path: Path) -> bool:
    """Whether ``path`` is a graph's int8 form."""
    return path != float_path(path)


def weights_for(path: Path, device: Device, precision: Precision) -> Path:
    """The graph to open for the float graph ``path``: its int8 form where ``precision`` asks
    for it, one ships, and the model will run on the CPU; else ``path``. Why not on a GPU:
    ONNX Runtime's CUDA provider runs a quantised graph's convolutions in float after
    dequantising, so it would only lose accuracy there."""
    quantised = int8_path(path)
    on_cpu = device == "cpu" or "CUDAExecutionProvider" not in ort.get_available_providers()
    return quantised if precision == "int8" and on_cpu and quantised.is_file() else path


def providers_for(device: Device) -> list[str]:
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        _load_cuda_libraries()
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelError(
            "--device cuda asked for, but this onnxruntime has no CUDA provider "
            f"(it has {', '.join(available)}): install ONNX Runtime's GPU build in its "
            f"place ({GPU_INSTALL})"
        )
    return ["CPUExecutionProvider"]


@functools.cache
def _load_cuda_libraries() -> None:
    """Loads the CUDA and cuDNN libraries that ``onnxruntime-gpu[cuda,cudnn]`` installs as
    pip packages (nvidia-*): ONNX Runtime's CUDA provider finds them only once preloaded
    (``onnxruntime.preload_dlls``, 1.21+), and without them needs a system-wide CUDA. Once
    per process; a system CUDA still serves where the packages are absent."""
    if not hasattr(ort, "preload_dlls"):
        return
    try:
        ort.preload_dlls()
    except Exception as exc:  # then the provider looks for a system CUDA, and says so
        log.info("onnxruntime.preload_dlls: %s", exc)


def open_session(path: Path, device: Device = "cpu", threads: int = 0) -> ort.InferenceSession:
    """An inference session; threads=0 lets ONNX Runtime use every core. threads=1 runs the
    graph on the calling thread alone: one operator at a time, no pool of either kind.
    ``device`` cuda: on the GPU or a ModelError (ONNX Runtime itself would quietly run on the
    CPU when its CUDA provider cannot start); auto: the GPU where it starts, else the CPU."""
    if not path.is_file():
        raise ModelError(f"model weights not found: {path} (reinstall affectlens)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if threads == 1:
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    graph, flushed = flush_denormals(onnx.load(path))
    if flushed:
        log.debug("%s: %d denormal weights set to zero", path.name, flushed)
    model = graph.SerializeToString() if flushed else str(path)
    providers = providers_for(device)
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
    except (RuntimeError, ValueError) as exc:  # onnxruntime.capi...Fail is a RuntimeError
        raise ModelError(f"{path.name}: ONNX Runtime could not open it on {providers[0]}: "
                         f"{str(exc).strip().splitlines()[0]}") from exc
    if providers[0] == "CUDAExecutionProvider" and session.get_providers()[0] != providers[0]:
        if device == "cuda":
            raise ModelError(
                "--device cuda asked for, but ONNX Runtime's CUDA provider did not start (no "
                "GPU visible, or the CUDA and cuDNN libraries its build needs are missing: "
                f"{GPU_INSTALL}); leave out --device cuda to run on the CPU")
        log.warning("%s: the CUDA provider did not start; running on the CPU", path.name)
    return session


def flush_denormals(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Set float32 weights too small to be normal numbers (|w| < 1.2e-38) to zero, in place.

    Why: both age models carry thousands of such weights in their first convolutions (left by
    training), and on Intel CPUs every multiply by one takes a slow microcode path: the age
    models ran 3-4 times slower than with zeros there (18.8 vs about 5 ms a face on the
    AVX-512 Xeon of issue 16), while machines that handle them in hardware showed the fast
    figure. Their contribution is below float32's resolution of any activation they are
    added to, so outputs do not change (checked bit for bit on both age models). ONNX
    Runtime's own ``session.set_denormal_as_zero`` did not help on one thread.
    Returns the model and how many weights were set to zero.
    """
    tiny = np.finfo(np.float32).tiny
    flushed = 0
    for tensor in model.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        weights = numpy_helper.to_array(tensor)
        denormal = (weights != 0) & (np.abs(weights) < tiny)
        count = int(denormal.sum())
        if count:
            flushed += count
            zeroed = np.where(denormal, np.float32(0), weights).astype(np.float32)
            tensor.CopyFrom(numpy_helper.from_array(zeroed, tensor.name))
    return model, flushed


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


class ModelRunner(Protocol):
    """What the face models call: an OnnxModel, or one whose calls are batched with other
    callers' (models/batching.py; on a cluster, a node's batching actor)."""

    path: Path

    @property
    def device(self) -> str: ...

    def run(self, batch: np.ndarray) -> list[np.ndarray]: ...


# Opens the runner of one weight file for a model class: OnnxModel unless the caller lends
# another (Models.load's ``opener``).
Opener = Callable[[Path, Device, int], ModelRunner]
