"""``affectlens analyze FOLDER --cluster ADDRESS``, or ``--jobs N``: the inputs spread over a
Ray cluster, or over N processes of this machine (no Ray needed).

One task per input file, each running the same ``analyze`` as one machine does on that file
alone (the inputs of one ``analyze`` call are analysed each on its own, so nothing is lost
by the split); the driver puts the parts back together in the inputs' order
(``result.combine``), so the files written are those of a one-machine run. Paths that are
not media, or missing, go to one task of their own, which reports them as one machine would.
A task is a Ray task or a call in a process pool: ``_run`` is one job either way, given how
to submit a task (``Submit``: both give a ``concurrent.futures.Future``).

Each part is fetched to the driver as soon as its task ends: a node that dies afterwards
takes nothing finished with it (Ray would otherwise re-run a task whose result was held only
in the dead node's object store), and the tasks it was running are run again elsewhere
(``max_retries``). With a ``checkpoint`` folder each part is also kept on disk as it comes,
named by its inputs (path, size, modification time) and the settings: a job run again after
it was interrupted (the machine that ran the command died too) analyses only what was not
finished. The parts are pickles: the folder is the job's own, never one shared with others.
The inputs must be readable at the same path on every node (shared
storage): video is never sent through the cluster. A video longer than ``segment_s`` is
split into segments, one task each, stitched back into one pass (segments.py); the progress
counts tasks. With an ``AnnotatedVideoWriter`` the annotated videos are drawn after the
stitching, by render tasks (annotated.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import av

from affectlens.analysis import analyze
from affectlens.cluster.annotated import LABEL_COLUMNS, OverlayRecorder, Overlays, join, render
from affectlens.cluster.connect import connect, disconnect, require_ray
from affectlens.cluster.segments import (
    Part,
    Segment,
    analyse_segment,
    memory_s,
    plan,
    splittable_duration,
    stitch,
)
from affectlens.config import AnalysisConfig
from affectlens.report.annotated_video import AnnotatedVideoWriter
from affectlens.result import Result, combine
from affectlens.sources import expand_inputs
from affectlens.voice.audio import AUDIO_SUFFIXES

log = logging.getLogger(__name__)
RETRIES = 3  # a task whose node died is run again, up to this many times
Done = Callable[[int, int], None]  # (tasks finished, tasks in all)
Unit = tuple[list[str], Segment | None]  # a task: its inputs, or one segment of one video
Piece = tuple[Result | Part, Overlays | None]  # a task's result, and what its frames blur
# submit(fn, *args): fn(*args) run elsewhere (a Ray task, a pool's process); its future.
Submit = Callable[..., Future[Any]]


def _analyse(paths: list[str], config: AnalysisConfig, segment: Segment | None,
             record: bool = False) -> Piece:
    """Runs on a node: the one-machine analysis of ``paths``, or of one segment of one; with
    ``record``, the Overlays of the frames it owns (for the annotated video)."""
    recorder = OverlayRecorder(segment) if record else None
    observers = [recorder] if recorder is not None else []
    if segment is not None:
        part: Result | Part = analyse_segment(Path(paths[0]), config, segment, observers)
    else:
        part = analyze([Path(p) for p in paths], config, observers=observers)
    return part, recorder.overlays() if recorder is not None else None


def analyze_on_cluster(inputs: Sequence[Path], config: AnalysisConfig, address: str,
                       done: Done | None = None, checkpoint: Path | None = None,
                       segment_s: float = 0.0, writer: AnnotatedVideoWriter | None = None
                       ) -> Result:
    """Analyse ``inputs`` (files and folders, as ``analyze`` takes them) on the cluster at
    ``address``; ``done`` hears how many tasks have finished (those in ``checkpoint`` from
    an interrupted run of the same job at once). ``segment_s``: videos longer than this
    are split (0: never; the command line's default is SegmentSettings'). ``writer``: also
    the annotated videos, into its folder (listed in its ``written``), as one machine's."""
    joined = connect(address)
    try:
        return _run(inputs, config, _ray_submit(config), done, checkpoint, segment_s, writer)
    finally:
        disconnect(joined)


def analyze_in_processes(inputs: Sequence[Path], config: AnalysisConfig, jobs: int,
                         done: Done | None = None, checkpoint: Path | None = None,
                         segment_s: float = 0.0, writer: AnnotatedVideoWriter | None = None
                         ) -> Result:
    """The same job as ``analyze_on_cluster``, in ``jobs`` processes of this machine and
    without Ray: a one-machine run that uses every core (each model runs ``config.threads``
    threads: one by default, so ``jobs`` processes take about ``jobs`` cores)."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    # spawn: a fresh interpreter, nothing inherited from a parent that may hold threads.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context)
    try:
        return _run(inputs, config, pool.submit, done, checkpoint, segment_s, writer)
    finally:  # a job that failed or was interrupted starts no task still waiting
        pool.shutdown(wait=True, cancel_futures=True)


def _ray_submit(config: AnalysisConfig) -> Submit:
    """Submits the job's two kinds of task to the cluster, each with what it asks of a node,
    run again elsewhere if its node dies; a future of a value already fetched to the driver."""
    ray = require_ray()
    # A cuda job's tasks go to GPU nodes, one task a GPU (the models are loaded per task).
    tasks = {
        _analyse: ray.remote(_analyse).options(num_cpus=max(1, config.threads),
                                               num_gpus=1 if config.device == "cuda" else 0,
                                               max_retries=RETRIES),
        render: ray.remote(render).options(num_cpus=1, max_retries=RETRIES),
    }
    return lambda fn, *args: tasks[fn].remote(*args).future()


def _units(inputs: Sequence[Path], config: AnalysisConfig, segment_s: float
           ) -> tuple[list[Unit], list[int]]:
    """The tasks, and for each the position of the input it belongs to (a video split into
    segments: several tasks of one input)."""
    voice = config.expression_allowed and config.voice_allowed
    files, missing = expand_inputs([Path(p) for p in inputs],
                                   AUDIO_SUFFIXES if voice else frozenset())
    # Missing paths first, as analyze reports them; then each file.
    units: list[Unit] = [([str(p) for p, _ in missing], None)] if missing else []
    owners = [0] * len(units)
    overlap = memory_s(config)
    for position, file in enumerate(files, start=len(units)):
        duration = splittable_duration(file, config) if segment_s > 0 else None
        segments = plan(duration, segment_s, overlap)
        if len(segments) == 1:
            units.append(([str(file)], None))
            owners.append(position)
        else:
            units += [([str(file)], s) for s in segments]
            owners += [position] * len(segments)
    return units, owners


def _part_file(folder: Path, unit: Unit, config: AnalysisConfig, record: bool) -> Path:
    """Names a part by what decides its result: its inputs as they are now, the settings."""
    def stat(path: str) -> list[object]:
        try:
            info = Path(path).stat()
        except OSError:
            return [path]
        return [path, info.st_size, info.st_mtime_ns]

    paths, segment = unit
    where = None if segment is None else [segment.start_s, segment.stop_s, segment.warm_s]
    what = [[stat(p) for p in paths], where, config.model_dump(mode="json")]
    key = json.dumps([*what, "overlays"] if record else what, sort_keys=True)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def _run(inputs: Sequence[Path], config: AnalysisConfig, submit: Submit, done: Done | None,
         checkpoint: Path | None, segment_s: float, writer: AnnotatedVideoWriter | None
         ) -> Result:
    if writer is not None and not config.expression_allowed:
        raise ValueError("purpose anonymous_statistics yields aggregate counts only; no "
                         "annotated video")
    units, owners = _units(inputs, config, segment_s)
    record = writer is not None
    files_of = [None if checkpoint is None else _part_file(checkpoint, u, config, record)
                for u in units]
    pieces: dict[int, Piece] = {}
    for i, file in enumerate(files_of):
        if file is not None and file.is_file():
            kept = pickle.loads(file.read_bytes())  # finished by an interrupted run
            pieces[i] = kept if isinstance(kept, tuple) else (kept, None)  # an older kind
    pending = {submit(_analyse, paths, config, segment, record): i
               for i, (paths, segment) in enumerate(units) if i not in pieces}
    if done is not None:
        done(len(pieces), len(units))
    while pending:
        ready, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in ready:
            i = pending.pop(future)
            pieces[i] = future.result()  # here now: a dead node cannot lose it
            if (file := files_of[i]) is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                partial = file.with_suffix(".part")
                partial.write_bytes(pickle.dumps(pieces[i]))
                partial.replace(file)
        if done is not None:
            done(len(pieces), len(units))
    if not units:
        return analyze([], config)  # nothing found: the empty result one machine gives
    parts = {i: part for i, (part, _) in pieces.items()}
    results = _inputs(units, owners, parts, config)
    if writer is not None:
        _draw(units, owners, pieces, results, config, submit, writer, done)
    return combine(results)


def _draw(units: list[Unit], owners: list[int], pieces: dict[int, Piece],
          results: list[Result], config: AnalysisConfig, submit: Submit,
          writer: AnnotatedVideoWriter, done: Done | None) -> None:
    """The annotated videos: a render task per piece of each video analysed, the pieces of
    one video joined here; ``done`` goes on counting (the analysis tasks, then these)."""
    videos: list[tuple[Path, list[Future[bytes]]]] = []
    for position, result in zip(sorted(set(owners)), results):
        mine = [i for i, owner in enumerate(owners) if owner == position]
        source = result.sources.iloc[0] if len(result.sources) == 1 else None
        if source is None or source.kind != "video" or source.status == "error":
            continue
        labels = result.frames[LABEL_COLUMNS]
        futures = []
        for i in mine:
            overlays = pieces[i][1]
            if overlays is None:
                raise ValueError("a part kept without its overlays; remove the checkpoint")
            futures.append(submit(render, str(source.source), config, units[i][1], overlays,
                               labels[labels.frame.isin(overlays.frames)], writer.blur))
        videos.append((writer.reserve(Path(str(source.source))), futures))
    total, finished = len(units) + sum(len(futures) for _, futures in videos), len(units)
    for path, futures in videos:
        encoded: list[bytes] = []
        failed: list[str] = []
        for future in futures:
            try:
                encoded.append(future.result())
            except Exception as exc:  # as one machine's writer: the video dropped, not the job
                failed.append(str(exc).strip().splitlines()[-1])
            finished += 1
            if done is not None:
                done(finished, total)
        try:
            if not failed and len(encoded) == 1:
                path.write_bytes(encoded[0])
            elif not failed:
                join(encoded, path)
        except (OSError, av.error.FFmpegError) as exc:
            failed.append(str(exc))
        if failed:
            log.warning("%s: not written (%s)", path.name, failed[0])
            writer.written.remove(path)
            path.unlink(missing_ok=True)


def _inputs(units: list[Unit], owners: list[int], parts: dict[int, Result | Part],
            config: AnalysisConfig) -> list[Result]:
    """One Result an input, in the inputs' order: a split video's segments stitched."""
    results: list[Result] = []
    for position in sorted(set(owners)):
        mine = [i for i, owner in enumerate(owners) if owner == position]
        segments = [s for i in mine if (s := units[i][1]) is not None]
        if segments:
            pieces = [parts[i] for i in mine]
            results.append(stitch(segments, [p for p in pieces if isinstance(p, Part)],
                                  config))
        else:
            (i,) = mine
            whole = parts[i]
            results.append(whole if isinstance(whole, Result) else whole.result)
    return results
