"""Issue 15, item 3: the face models of several cameras called together (models/batching.py).

Four cameras, each a thread with its own pipeline (tracks, smoothing) over its own real
frames (the sample portraits, each camera's shifted differently), share one copy of each
model through a DynamicBatcher: what each camera gets must be what it gets alone, to the
float, and the batcher must really have joined the cameras' calls. The model is the real
ONNX one; only the model that fails (the error test) is a stand-in.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from affectlens.config import AnalysisConfig
from affectlens.errors import ModelError
from affectlens.models.batching import BatchedModel, DynamicBatcher, batched_opener
from affectlens.models.runtime import OnnxModel
from affectlens.pipeline import Models, Pipeline
from affectlens.samples import sample_frames
from affectlens.types import FaceAnalysis, Frame

CAMERAS = 4
FPS = 5


def _camera_frames(camera: int) -> list[Frame]:
    shift = 60 * camera
    return [Frame(np.roll(image, shift, axis=1), i, i / FPS, f"camera-{camera}")
            for i, (image, _) in enumerate(sample_frames(seconds=2.0, fps=FPS))]


def _run(pipeline: Pipeline, frames: list[Frame], start: threading.Barrier | None = None
         ) -> list[FaceAnalysis]:
    state = pipeline.start_source(FPS)
    if start is not None:
        start.wait()
    return [pipeline.analyse([frame], state)[0] for frame in frames]


def test_cameras_sharing_batched_models_get_what_each_gets_alone() -> None:
    config = AnalysisConfig(threads=1, full_scan_every_s=None)
    frames = [_camera_frames(c) for c in range(CAMERAS)]
    alone = Pipeline(config)
    expected = [_run(alone, f) for f in frames]
    assert all(len(a.faces.boxes) == 2 for a in expected[0]), "both portraits found"

    opener = batched_opener(max_rows=256, deadline_s=0.05)
    pipelines = [Pipeline(config, Models.load(config, opener)) for _ in range(CAMERAS)]
    runners = {id(p.models.detector.model) for p in pipelines}
    assert len(runners) == 1, "one copy of the detector for every camera"
    start = threading.Barrier(CAMERAS)
    got: list[list[FaceAnalysis]] = [[] for _ in range(CAMERAS)]

    def camera(c: int) -> None:
        got[c] = _run(pipelines[c], frames[c], start)

    threads = [threading.Thread(target=camera, args=(c,)) for c in range(CAMERAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for mine, theirs in zip(got, expected):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert np.allclose(a.faces.boxes, b.faces.boxes, atol=1e-3)
            assert np.array_equal(a.track_ids, b.track_ids)
            assert np.allclose(a.expression_probs, b.expression_probs, atol=1e-5)
            assert np.allclose(a.ages, b.ages, atol=1e-3)
            assert a.dominant == b.dominant
    stats = pipelines[0].models.expression.model.batcher.stats  # type: ignore[union-attr]
    assert stats.requests == CAMERAS * len(frames[0])
    assert stats.calls < stats.requests, f"no call was joined: {stats}"
    assert stats.largest_call > 2, "a call held more than one camera's two faces"


def test_a_failing_call_reaches_each_of_its_callers_and_the_batcher_goes_on() -> None:
    calls: list[int] = []

    def run(batch: np.ndarray) -> list[np.ndarray]:
        calls.append(len(batch))
        if (batch < 0).any():
            raise RuntimeError("the model failed")
        return [batch * 2]

    batcher = DynamicBatcher(run, max_rows=8, deadline_s=0.2)
    results: dict[str, object] = {}

    def call(name: str, batch: np.ndarray) -> None:
        try:
            results[name] = batcher.submit(batch)
        except RuntimeError as exc:
            results[name] = exc

    threads = [threading.Thread(target=call, args=(n, b)) for n, b in
               (("good", np.ones((2, 3))), ("bad", -np.ones((1, 3))))]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # in this order, within the deadline: one call
    for thread in threads:
        thread.join(timeout=10)
    assert calls == [3]
    assert isinstance(results["good"], RuntimeError) and isinstance(results["bad"],
                                                                    RuntimeError)
    # Rows of another shape are never joined to these; a batch over max_rows runs alone.
    assert np.array_equal(batcher.submit(np.ones((2, 3)))[0], 2 * np.ones((2, 3)))
    assert batcher.submit(np.ones((20, 3)))[0].shape == (20, 3)
    assert calls[1:] == [2, 20]
    batcher.close()
    with pytest.raises(ModelError, match="closed"):
        batcher.submit(np.ones((1, 3)))


def test_three_callers_crops_go_into_one_call_of_the_real_model_and_back() -> None:
    classifier = Models.load(AnalysisConfig(threads=1)).expression
    assert classifier is not None
    model = classifier.model
    assert isinstance(model, OnnxModel)
    batched = BatchedModel(model, max_rows=64, deadline_s=0.2)
    shape = tuple(int(d) for d in model.session.get_inputs()[0].shape[1:])
    crops = np.random.default_rng(0).random((3, *shape), np.float32)
    results: list[list[np.ndarray]] = [[] for _ in range(3)]

    def call(i: int) -> None:
        results[i] = batched.run(crops[i:i + 1])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert batched.batcher.stats.calls == 1 and batched.batcher.stats.rows == 3
    # Each caller has its own row back, whichever order the three were joined in.
    for i in range(3):
        assert np.allclose(results[i][0], model.run(crops[i:i + 1])[0], atol=1e-5)
    assert batched.path == model.path and batched.device == "cpu"


def test_rows_of_another_shape_are_never_joined() -> None:
    shapes: list[tuple[int, ...]] = []

    def run(batch: np.ndarray) -> list[np.ndarray]:
        shapes.append(batch.shape)
        return [batch.sum(axis=tuple(range(1, batch.ndim)))]

    batcher = DynamicBatcher(run, max_rows=64, deadline_s=0.2)
    threads = [threading.Thread(target=batcher.submit, args=(np.ones(s),))
               for s in ((2, 3), (1, 4), (1, 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(shapes) == [(1, 4), (3, 3)]
    batcher.close()
