"""Streams one machine sustains, and what batching the cameras' model calls together buys.

    python benchmarks/gpu.py [--device cpu|cuda] [--cameras 1,4,8] [--seconds 20]
                             [--max-rows 64] [--deadline-ms 5] [--threads 0]

Issue 15, item 3: on a GPU node one batching actor serves the face models of every camera
there (cluster.batch_models; affectlens/cluster/batching.py). This measures the same joining
(models/batching.py's DynamicBatcher) with the cameras as threads of one process, so the
figures are the batching's, not Ray's transport (benchmarks/cluster.py measures Ray's
overhead). Run it unchanged on a GPU machine with ``--device cuda`` (ONNX Runtime's GPU
build installed in place of the CPU one: docs/deployment.md#gpu-nodes); here (no GPU) it
runs on the CPU.

1. Each face model's throughput by batch size (1, 8, 32, 64 rows: detector tiles of 128x128,
   aligned face crops): milliseconds a call and rows a second, CPU beside wall.
2. Decoding: frames a second PyAV decodes from a 720p H.264 clip on one thread, and the
   streams at 5 analysed fps that makes per core (decoding every frame of a 15 fps camera).
3. N cameras (threads), each a pipeline of its own (tracks, smoothing, gated search) over
   720p frames, as fast as they go, for ``--seconds``: (a) each camera calling its own
   models, (b) the cameras' calls joined (one copy of each model). Printed: frames analysed a
   second over all cameras, the streams at 5 analysed fps that is, CPU ms a frame, and for
   (b) the rows per model call. Decoding is not in 3 (frames are in memory): 2 says what it
   adds.

The target on one H100-class GPU is 200 streams at 5 fps, 720p (issue 15): where a GPU run
happens, part 3's streams against it, and 2's, say what limits it. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.models.batching import BatchedModel, batched_opener
from affectlens.models.runtime import Device, OnnxModel
from affectlens.pipeline import Models, Pipeline
from affectlens.samples import sample_frames, write_video
from affectlens.types import Frame

ANALYSED_FPS = 5.0
CAMERA_FPS = 15
SIZE = (1280, 720)
BATCHES = (1, 8, 32, 64)


def frames_720p(seconds: float = 4.0) -> list[np.ndarray]:
    """The sample portraits scaled to 1280x720 (two faces, moving)."""
    return [cv2.resize(image, SIZE, interpolation=cv2.INTER_LINEAR)
            for image, _ in sample_frames(seconds, int(ANALYSED_FPS))]


def model_throughput(models: Models) -> None:
    print(f"\n1. face models by batch size ({models.detector.model.device})")
    runners = [("detector (tiles)", models.detector.model), ("age (crops)", models.age.model)]
    if models.expression is not None:
        runners.insert(1, ("expression (crops)", models.expression.model))
    for name, model in runners:
        assert isinstance(model, OnnxModel)
        shape = [int(d) if isinstance(d, int) else 1
                 for d in model.session.get_inputs()[0].shape[1:]]
        cells = []
        for rows in BATCHES:
            batch = np.random.default_rng(0).random((rows, *shape), np.float32)
            model.run(batch)  # warm
            repeats = max(3, 64 // rows)
            watch = Stopwatch()
            for _ in range(repeats):
                model.run(batch)
            used = watch.elapsed()
            cells.append(f"{rows:3d}: {1000 * used.cpu_s / repeats:7.1f} CPU ms "
                         f"({1000 * used.wall_s / repeats:6.1f} wall), "
                         f"{rows * repeats / used.wall_s:7.0f} rows/s")
        print(f"  {name:20s}" + "\n  " + " " * 20 + ("\n  " + " " * 20).join(cells))


def decoding(images: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_video(Path(tmp) / "720p.mp4", images * 3, fps=CAMERA_FPS)
        watch = Stopwatch()
        frames = 0
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one thread: a camera's decoder
            for frame in container.decode(stream):
                frame.to_ndarray(format="bgr24")
                frames += 1
        used = watch.elapsed()
    rate = frames / used.cpu_s
    print(f"\n2. decoding 720p H.264, one thread: {frames} frames, "
          f"{1000 * used.cpu_s / frames:.1f} CPU ms a frame ({rate:.0f} a CPU second): a "
          f"{CAMERA_FPS} fps camera decoded in full costs {CAMERA_FPS / rate:.2f} cores, so "
          f"one core decodes {rate / CAMERA_FPS:.1f} such streams")


def cameras(config: AnalysisConfig, images: list[np.ndarray], count: int, seconds: float,
            shared: Models | None) -> tuple[int, float, float]:
    """``count`` camera threads for ``seconds``: (frames analysed, wall s, CPU s)."""
    pipelines = [Pipeline(config, shared if shared is not None else Models.load(config))
                 for _ in range(count)]
    stop = threading.Event()
    done = [0] * count
    start = threading.Barrier(count + 1)

    def camera(c: int) -> None:
        pipeline = pipelines[c]
        state = pipeline.start_source(ANALYSED_FPS)
        start.wait()
        n = 0
        while not stop.is_set():
            image = np.roll(images[n % len(images)], 97 * c, axis=1)  # each its own view
            pipeline.analyse([Frame(image, n, n / ANALYSED_FPS, f"camera-{c}")], state)
            n += 1
        done[c] = n

    threads = [threading.Thread(target=camera, args=(c,), daemon=True) for c in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    watch = Stopwatch()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    used = watch.elapsed()
    return sum(done), used.wall_s, used.cpu_s


def streams(device: Device, counts: list[int], seconds: float, max_rows: int, deadline_s: float,
            threads: int) -> None:
    images = frames_720p()
    config = AnalysisConfig(device=device, threads=threads)
    print(f"\n3. cameras as threads, 720p, {seconds:g} s each run (frames in memory, no "
          f"decoding); joined: at most {max_rows} rows a call, {1000 * deadline_s:g} ms wait")
    for count in counts:
        alone = cameras(config, images, count, seconds, None)
        opener = batched_opener(max_rows, deadline_s)
        joined_models = Models.load(config, opener)
        joined = cameras(config, images, count, seconds, joined_models)
        batched = [m for m in (joined_models.detector.model, joined_models.age.model,
                               getattr(joined_models.expression, "model", None))
                   if isinstance(m, BatchedModel)]
        per_call = ", ".join(
            f"{m.path.stem} {m.batcher.stats.rows / max(m.batcher.stats.calls, 1):.1f} rows "
            f"a call ({m.batcher.stats.requests / max(m.batcher.stats.calls, 1):.1f} cameras' "
            "calls)" for m in batched)
        for name, (frames, wall, cpu) in (("alone", alone), ("joined", joined)):
            fps = frames / wall
            print(f"  {count:2d} cameras, {name:6s}: {fps:6.1f} frames/s = "
                  f"{fps / ANALYSED_FPS:5.1f} streams at {ANALYSED_FPS:g} fps; "
                  f"{1000 * cpu / max(frames, 1):6.1f} CPU ms a frame")
        print(f"      joined calls: {per_call}")
        for m in batched:
            m.batcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--cameras", default="1,4,8", help="comma-separated camera counts")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-rows", type=int, default=64)
    parser.add_argument("--deadline-ms", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime threads a model (0: every core)")
    args = parser.parse_args()
    with machine_report():
        config = AnalysisConfig(device=args.device, threads=args.threads)
        model_throughput(Models.load(config))
        decoding(frames_720p())
        streams(args.device, [int(c) for c in args.cameras.split(",")], args.seconds,
                args.max_rows, args.deadline_ms / 1000, args.threads)


if __name__ == "__main__":
    main()
