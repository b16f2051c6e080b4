"""``analyze``: recorded videos and images in, a Result out.

The offline sink of the engine (affectlens.engine): each input is one SourceSession, whose
FrameResults become the tables (frames, persons, events) and feed the observers; which stages
run, in what order, and every rule are the engine's, as for a live camera. Each input is
analysed on its own; one that cannot be read is reported in the result's ``sources`` table
(status "error", with a one-line reason) and the others still run.

The purpose gate (``AnalysisConfig.purpose``): an ``anonymous_statistics`` job loads no
expression or pose model, keeps no per-face or per-person row and no thumbnail; each source
yields one aggregate row (``Result.statistics``), blanked below ``min_group`` people.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectlens.config import AnalysisConfig
from affectlens.counting import Bucket
from affectlens.engine import Engine, FrameResult
from affectlens.errors import InputError
from affectlens.events.event import EVENT_COLUMNS, Event, event_row
from affectlens.observers import FrameObserver, ThumbnailCollector
from affectlens.people import PERSON_COLUMNS, PeoplePipeline, person_rows
from affectlens.pipeline import Pipeline
from affectlens.result import (
    PER_PERSON_SETTINGS,
    SOURCE_COLUMNS,
    Result,
    frame_rows,
    frames_table,
    statistics_row,
    statistics_table,
)
from affectlens.sources import IMAGE_SUFFIXES, MediaInfo, Span, expand_inputs, open_media
from affectlens.types import FaceAnalysis, Frame
from affectlens.voice.audio import AUDIO_SUFFIXES
from affectlens.voice.engine import VoiceAnalyser, VoiceOutput, analyse_inputs

log = logging.getLogger(__name__)

# Progress callback: (source path, frames done in it, frames expected or None).
Progress = Callable[[Path, int, int | None], None]
PathLike = str | Path


def analyze(
    inputs: PathLike | Sequence[PathLike],
    config: AnalysisConfig | None = None,
    *,
    pipeline: Pipeline | None = None,
    observers: Iterable[FrameObserver] = (),
    progress: Progress | None = None,
    people: PeoplePipeline | None = None,
    span: Span | None = None,
) -> Result:
    """Analyse video files, images and folders of them.

    >>> result = affectlens.analyze("session.mp4", AnalysisConfig(fps=5))
    >>> result.tracks[["track_id", "dominant_expression", "age_band"]]
    >>> result.to_csv("out/")
    >>> result.events  # distress; falls, long lies and inactivity (when config.pose)

    With ``purpose="anonymous_statistics"`` only ``result.statistics`` is filled (observers
    and ``people`` are refused: they would see single people).

    ``span``: of each video, only the frames in that part (a segment of a long video analysed
    on a cluster's node: affectlens.cluster.segments); None, all of it.
    """
    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    pipeline = pipeline or Pipeline(config)
    cfg = pipeline.config
    if not cfg.expression_allowed:
        return _anonymous(paths, pipeline, list(observers), progress, people, span)
    # A lent body path keeps its own settings (cfg.falls is for the one made here).
    engine = Engine(pipeline, cfg.falls if cfg.pose and people is None else None,
                    cfg.distress, people)
    tables = _Tables()
    thumbnails = ThumbnailCollector()
    watchers: list[FrameObserver] = [thumbnails, *observers]
    files, missing = expand_inputs(paths, AUDIO_SUFFIXES if cfg.voice_allowed else frozenset())
    rows: list[dict[str, Any]] = []
    sources = [_source_row(str(p), None, 0, 0, 0, "error", m) for p, m in missing]
    voice = analyse_inputs([f for f in files if f.suffix.lower() not in IMAGE_SUFFIXES],
                           VoiceAnalyser(cfg.voice, cfg.device, cfg.threads)
                           ) if cfg.voice_allowed else None
    for path in files:
        if path.suffix.lower() in AUDIO_SUFFIXES:  # sound only: the voice path's alone
            sources.append(_audio_row(path, voice))
            continue
        sources.append(_analyse_file(path, engine, watchers, rows, progress, tables,
                                     span=span))
    return Result(
        frames=frames_table(rows),
        sources=_sources_table(sources),
        settings=pipeline.config.model_dump(),
        thumbnails=thumbnails.thumbnails,
        persons=tables.persons_table() if engine.people is not None else None,
        events=tables.events_table(),
        voice=voice,
    )


def _audio_row(path: Path, voice: VoiceOutput | None) -> dict[str, Any]:
    """An audio file's row in the sources table: its voice status (no frames, no faces)."""
    entry = next((e for e in voice.sources if e["source"] == str(path)), None) if voice else None
    if entry is None:
        return _source_row(str(path), None, 0, 0, 0, "error", f"{path}: an audio file; tone "
                           "of voice is analysed only for purpose consented_research")
    failed = entry["status"] == "error"
    row = _source_row(str(path), None, 0, 0, 0, "error" if failed else "ok",
                      entry.get("message", "") if failed else f"audio: {entry['status']}")
    return row | {"kind": "audio"}


def _anonymous(paths: list[Path], pipeline: Pipeline, observers: list[FrameObserver],
               progress: Progress | None, people: PeoplePipeline | None,
               span: Span | None = None) -> Result:
    """anonymous_statistics: faces and ages go into per-source counts and nowhere else."""
    cfg = pipeline.config
    if observers or people is not None:
        raise ValueError("purpose anonymous_statistics yields aggregate counts only; frame "
                         "observers (annotated video) and the pose path see single people")
    files, missing = expand_inputs(paths)
    sources = [_source_row(str(p), None, 0, 0, 0, "error", m) for p, m in missing]
    stats: list[dict[str, Any]] = []
    engine = Engine(pipeline)  # the purpose gate: no expression, no distress, no body
    for path in files:
        counts = _Counts(cfg.statistics_every_s)
        row = _analyse_file(path, engine, [], [], progress, counts=counts, span=span)
        if row["status"] != "error":
            stats += counts.rows(str(path), cfg.min_group)
        sources.append(row | {"faces": None, "tracks": None})  # counts: statistics only
    return Result(
        frames=frames_table([]),
        sources=_sources_table(sources),
        settings=cfg.model_dump(exclude=set(PER_PERSON_SETTINGS)),
        statistics=statistics_table(stats),
    )


class _Counts:
    """One source's counts per time bucket (affectlens.counting; one bucket for the whole
    file when ``every`` is None), for its aggregate rows."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.last_s = 0.0
        self.buckets: defaultdict[int, Bucket] = defaultdict(Bucket)

    def add(self, analysis: FaceAnalysis) -> None:
        self.last_s = max(self.last_s, analysis.timestamp)
        self.buckets[int(analysis.timestamp // self.every) if self.every else 0].add(analysis)

    def rows(self, source: str, min_group: int) -> list[dict[str, Any]]:
        """Every bucket from the start to the last frame, empty ones included (suppressed)."""
        if not self.every:
            return [statistics_row(source, (0.0, self.last_s), self.buckets[0], min_group)]
        return [
            statistics_row(source, (b * self.every, (b + 1) * self.every), self.buckets[b],
                           min_group)
            for b in range(int(self.last_s // self.every) + 1)
        ]


class _Tables:
    """Per-frame person rows and the events of every source, for the Result's tables."""

    def __init__(self) -> None:
        self.persons: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._open: dict[int, Event] = {}

    def add(self, source: str, result: FrameResult) -> None:
        if result.body is not None:
            self.persons += person_rows(source, result.body)
        self._open |= {id(e): e for e in result.events}

    def finish(self, source: str, ended: list[Event]) -> None:
        """Events in the order they fired, with their end times (open ones end now)."""
        self._open |= {id(e): e for e in ended}
        self.events += [event_row(source, e) for e in
                        sorted(self._open.values(), key=lambda e: (e.detected_s, e.kind))]
        self._open = {}

    def persons_table(self) -> pd.DataFrame:
        table = pd.DataFrame(self.persons, columns=PERSON_COLUMNS)
        return table.astype({"track_id": "Int64"})

    def events_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.events, columns=EVENT_COLUMNS).astype({"track_id": "Int64"})


def _analyse_file(
    path: Path, engine: Engine, watchers: list[FrameObserver],
    rows: list[dict[str, Any]], progress: Progress | None, tables: _Tables | None = None,
    counts: _Counts | None = None, span: Span | None = None,
) -> dict[str, Any]:
    config = engine.pipeline.config
    try:
        source = open_media(path, config.fps, config.max_image_side, span)
    except InputError as exc:
        log.warning("%s", exc)
        return _source_row(str(path), None, 0, 0, 0, "error", str(exc))
    info = source.info
    analysis_fps = min(config.fps or info.native_fps or 25.0, info.native_fps or 25.0)
    session = engine.open(analysis_fps if info.kind == "video" else None)
    active = _start(watchers, info)
    count, faces, tracks = 0, 0, set()
    try:
        for batch in _batches(source.frames(), config.batch_frames):
            for result in session.step_many(batch):
                analysis = result.faces
                if counts is not None:
                    counts.add(analysis)
                    continue
                rows += frame_rows(str(path), analysis)
                faces += len(analysis)
                tracks.update(int(t) for t in analysis.track_ids if t > 0)
                if tables is not None:
                    tables.add(str(path), result)
                active = _notify(active, result.frame, analysis, result.extra_regions)
            count += len(batch)
            if progress:
                progress(path, count, info.frame_count)
    except InputError as exc:
        log.warning("%s", exc)
        return _source_row(str(path), info, 0, 0, 0, "error", str(exc))
    finally:
        for watcher in active:  # as _notify: a failing observer is logged, never fatal
            try:
                watcher.finish()
            except Exception:
                log.exception("observer %s failed to finish; analysis goes on",
                              type(watcher).__name__)
        ended = session.finish()
        if tables is not None:
            tables.finish(str(path), ended)
    for warning in info.warnings:
        log.warning("%s", warning)
    status = "warning" if info.warnings else "ok"
    return _source_row(str(path), info, count, faces, len(tracks), status, "; ".join(info.warnings))


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _start(watchers: list[FrameObserver], info: MediaInfo) -> list[FrameObserver]:
    active = []
    for watcher in watchers:
        try:
            watcher.start(info)
            active.append(watcher)
        except Exception:
            log.exception("observer %s failed to start; analysis goes on", type(watcher).__name__)
    return active


def _notify(
    watchers: list[FrameObserver], frame: Frame, analysis: FaceAnalysis,
    heads: np.ndarray | None = None,
) -> list[FrameObserver]:
    """Hands the frame to each observer; drops any that fails."""
    alive = []
    for watcher in watchers:
        try:
            watcher.observe(frame, analysis, heads)
            alive.append(watcher)
        except Exception:
            log.exception("observer %s failed; analysis goes on", type(watcher).__name__)
    return alive


def _source_row(
    source: str, info: MediaInfo | None, frames: int, faces: int, tracks: int,
    status: str, message: str,
) -> dict[str, Any]:
    return {
        "source": source,
        "kind": info.kind if info else None,
        "width": info.width if info else None,
        "height": info.height if info else None,
        "native_fps": info.native_fps if info else None,
        "frames_analysed": frames, "faces": faces, "tracks": tracks,
        "status": status, "message": message,
    }


def _sources_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=SOURCE_COLUMNS)
    return table.astype({c: "Int64" for c in ("width", "height", "faces", "tracks")})
