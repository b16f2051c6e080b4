"""One batching actor per node: the face models of every camera actor there, called together.

Issue 15, item 3. On a GPU node each camera's worker calling its models alone leaves the GPU
waiting on many small calls; with ``cluster.batch_models`` the camera actors of a node do not
load the face models (detector, expression, age) at all. Each hands its tiles and crops to
the node's one ``BatchingActor``, which holds each model once and joins what the cameras send
within ``batch_deadline_ms`` (or until ``batch_max_rows`` rows) into one call
(models/batching.py's DynamicBatcher), on the GPU when the analysis asks ``device: cuda``.

The actor is found by name, one per node (``affectlens-batcher-<node id>``), created by the
first camera of the node that needs it and pinned there; it asks for ``num_gpus`` (the
cluster's ``num_gpus``: a share of the node's GPU) and no CPU, so it never keeps a camera
from being placed. Frames and crops reach it through the node's shared-memory object store:
they never leave the node. The pose model (falls) stays in each camera's actor: it takes one
frame of its own size a call.

What is tested here, on CPU (tests/test_cluster.py): the actor's outputs equal each model's
own, cameras' calls are joined, one actor serves a node. What is not (no GPU was lent to the
sessions that built it): the CUDA provider inside the actor and its throughput against
cameras calling alone; ``python benchmarks/gpu.py --device cuda`` measures both where a GPU
is.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlens.cluster.connect import require_ray
from affectlens.models.batching import BatchedModel
from affectlens.models.runtime import (
    Device,
    ModelRunner,
    OnnxModel,
    Opener,
    float_path,
    is_int8,
    weights_for,
)

ACTOR_PREFIX = "affectlens-batcher-"
NAMESPACE = "affectlens"
MAX_CALLERS = 256  # calls the actor serves at once: every camera thread waiting on a batch


@dataclass(frozen=True)
class BatchSettings:
    """How a node's batching actor joins calls (ClusterConfig's batch_* settings)."""

    max_rows: int
    deadline_s: float
    num_gpus: float = 0.0


def graph_here(path: Path, device: Device) -> Path:
    """The graph this node opens for a camera's ``path``. A camera chooses a model's int8 form
    by its own machine (runtime.weights_for: on the CPU); where this node runs the model on a
    GPU, the float graph is the one to run."""
    return weights_for(float_path(path), device, "int8") if is_int8(path) else path


class BatchingActor:
    """Each model once, on this node; ``run`` from any number of callers at once (a threaded
    actor), joined into calls by a DynamicBatcher per model."""

    def __init__(self, device: Device, threads: int, max_rows: int, deadline_s: float) -> None:
        self.device, self.threads = device, threads
        self.max_rows, self.deadline_s = max_rows, deadline_s
        self._models: dict[str, BatchedModel] = {}
        self._lock = threading.Lock()

    def _model(self, path: str) -> BatchedModel:
        with self._lock:
            if path not in self._models:
                self._models[path] = BatchedModel(
                    OnnxModel(graph_here(Path(path), self.device), self.device, self.threads),
                    self.max_rows, self.deadline_s)
            return self._models[path]

    def run(self, path: str, batch: np.ndarray) -> list[np.ndarray]:
        return self._model(path).run(batch)

    def device_of(self, path: str) -> str:
        return self._model(path).device

    def stats(self) -> dict[str, dict[str, int]]:
        """Per weight file: model calls, the cameras' batches they served, their rows."""
        with self._lock:
            return {Path(p).name: m.batcher.stats.as_dict() for p, m in self._models.items()}


class RemoteModel:
    """A camera's handle on one model of its node's batching actor (runtime.ModelRunner)."""

    def __init__(self, actor: Any, path: Path) -> None:
        self.ray = require_ray()
        self.actor, self.path = actor, path
        self._device: str | None = None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = str(self.ray.get(self.actor.device_of.remote(str(self.path))))
        return self._device

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, np.float32)
        return list(self.ray.get(self.actor.run.remote(str(self.path), batch)))


def node_batcher(settings: BatchSettings, device: Device = "cpu", threads: int = 0) -> Any:
    """The batching actor of the node this runs on, created if it has none yet (Ray's
    ``get_if_exists``: two cameras starting together get the one actor). Its settings are
    those of the camera that created it. Detached, so that it outlives the camera that
    created it (the node's other cameras still use it); ``close_batchers`` ends them all."""
    ray = require_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node_id = ray.get_runtime_context().get_node_id()
    actor = ray.remote(BatchingActor).options(
        name=ACTOR_PREFIX + node_id, namespace=NAMESPACE, get_if_exists=True,
        lifetime="detached", num_cpus=0, num_gpus=settings.num_gpus,
        max_concurrency=MAX_CALLERS,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    return actor.remote(device, threads, settings.max_rows, settings.deadline_s)


def batcher_names() -> list[str]:
    """The batching actors alive on the cluster, by name."""
    ray = require_ray()
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a.get("namespace") == NAMESPACE and a["name"].startswith(ACTOR_PREFIX))


def close_batchers() -> None:
    """Ends every node's batching actor (the service stopping: its cameras have stopped)."""
    ray = require_ray()
    for name in batcher_names():
        with contextlib.suppress(ValueError):  # gone meanwhile (its node died)
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)


def remote_opener(actor: Any) -> Opener:
    """Models.load's opener for a camera whose models its node's batching actor runs."""
    def opener(path: Path, device: Device, threads: int) -> ModelRunner:
        return RemoteModel(actor, path)
    return opener
