"""Dynamic batching: the inputs of many callers go into one model call (issue 15, item 3).

Why: on a GPU one call on 64 face crops costs little more than a call on one, so the frames
and crops of many cameras should reach the model together; a camera alone rarely has that
many. Each caller hands in its own batch and waits; a thread gathers what arrives until the
gathered rows reach ``max_rows`` or ``deadline_s`` has passed since the first of them, runs
the model once on them, and hands each caller back its own rows of every output. This is the
pattern of DeepStream's nvstreammux and Triton's dynamic batcher; Ray core, on which the
cluster's per-node batching actor is built (affectlens/cluster/batching.py), has no such
primitive (Ray Serve's ``serve.batch`` is, but brings Serve and its HTTP stack with it).

Inputs whose rows differ in shape or type are never joined: each kind is run as its own call.
A caller's batch is never split (one bigger than ``max_rows`` is run alone). When the model
raises, every caller of that call gets the error, and the batcher goes on with the next.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.errors import ModelError
from affectlens.models.runtime import Device, ModelRunner, OnnxModel, Opener

Run = Callable[[np.ndarray], list[np.ndarray]]


@dataclass
class BatchStats:
    """What a batcher has done: model calls, the callers' batches they served, their rows."""

    calls: int = 0
    requests: int = 0
    rows: int = 0
    largest_call: int = 0  # rows

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "requests": self.requests, "rows": self.rows,
                "largest_call": self.largest_call}


@dataclass
class _Request:
    batch: np.ndarray
    done: Future[list[np.ndarray]] = field(default_factory=Future)


class DynamicBatcher:
    """Runs ``run`` on the joined batches of every caller of ``submit``, from any thread."""

    def __init__(self, run: Run, max_rows: int = 64, deadline_s: float = 0.005,
                 name: str = "model") -> None:
        if max_rows < 1 or not deadline_s >= 0:
            raise ValueError(f"max_rows must be >= 1 and deadline_s >= 0, not {max_rows}, "
                             f"{deadline_s}")
        self._run, self.max_rows, self.deadline_s = run, max_rows, deadline_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()  # stats, and closing against submitting
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._serve, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, batch: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for ``batch`` (N rows in, N rows of each output back), once the
        call it was joined into has run."""
        batch = np.asarray(batch)
        if batch.ndim < 1:
            raise ModelError("a batch needs a first (row) axis")
        request = _Request(batch)
        with self._lock:
            if self._closed:
                raise ModelError("the model's batcher is closed")
            self._queue.put(request)
        return request.done.result()

    def close(self) -> None:
        """Serves what was handed in, then stops; ``submit`` raises from then on."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            gathered, rows, closing = [first], len(first.batch), False
            until = time.monotonic() + self.deadline_s
            while rows < self.max_rows:
                try:
                    more = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                gathered.append(more)
                rows += len(more.batch)
            for kind in _kinds(gathered):
                self._call(kind)
            if closing:
                return

    def _call(self, requests: list[_Request]) -> None:
        """One model call on ``requests`` (rows of one shape), max_rows at a time."""
        part: list[_Request] = []
        rows = 0
        for request in requests:
            if part and rows + len(request.batch) > self.max_rows:
                self._call_once(part)
                part, rows = [], 0
            part.append(request)
            rows += len(request.batch)
        if part:
            self._call_once(part)

    def _call_once(self, requests: list[_Request]) -> None:
        sizes = [len(r.batch) for r in requests]
        try:
            joined = (requests[0].batch if len(requests) == 1
                      else np.concatenate([r.batch for r in requests]))
            outputs = self._run(joined)
            if any(len(o) != sum(sizes) for o in outputs):
                raise ModelError(f"the model gave {[len(o) for o in outputs]} rows for "
                                 f"{sum(sizes)} in")
        except Exception as exc:  # every caller of this call hears why, the batcher goes on
            for request in requests:
                request.done.set_exception(exc)
            return
        with self._lock:
            self.stats.calls += 1
            self.stats.requests += len(requests)
            self.stats.rows += sum(sizes)
            self.stats.largest_call = max(self.stats.largest_call, sum(sizes))
        start = 0
        for request, size in zip(requests, sizes):
            request.done.set_result([o[start:start + size] for o in outputs])
            start += size


def _kinds(requests: list[_Request]) -> list[list[_Request]]:
    """The requests grouped by row shape and type, in the order they came."""
    groups: dict[tuple[tuple[int, ...], str], list[_Request]] = {}
    for request in requests:
        groups.setdefault((request.batch.shape[1:], request.batch.dtype.str), []).append(request)
    return list(groups.values())


class BatchedModel:
    """A model runner (runtime.ModelRunner) whose calls go through a DynamicBatcher: what
    several users of one loaded model in one process (threads) hand it as ``run``."""

    def __init__(self, model: ModelRunner, max_rows: int = 64, deadline_s: float = 0.005
                 ) -> None:
        self.model = model
        self.path: Path = model.path
        self.batcher = DynamicBatcher(model.run, max_rows, deadline_s, name=self.path.stem)

    @property
    def device(self) -> str:
        return self.model.device

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.batcher.submit(np.ascontiguousarray(batch, np.float32))


def batched_opener(max_rows: int = 64, deadline_s: float = 0.005) -> Opener:
    """Models.load's opener for several pipelines in one process (threads, one a camera):
    each weight file is loaded once and its calls joined across them."""
    loaded: dict[tuple[Path, str, int], BatchedModel] = {}
    lock = threading.Lock()

    def opener(path: Path, device: Device, threads: int) -> ModelRunner:
        with lock:
            key = (path, device, threads)
            if key not in loaded:
                loaded[key] = BatchedModel(OnnxModel(path, device, threads), max_rows,
                                           deadline_s)
            return loaded[key]
    return opener
