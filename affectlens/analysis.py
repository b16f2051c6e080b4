"""``analyze``: recorded videos and images in, a Result out.

Each input is analysed on its own; one that cannot be read is reported in the result's
``sources`` table (status "error", with a one-line reason) and the others still run.

The purpose gate (``AnalysisConfig.purpose``): an ``anonymous_statistics`` job loads no
expression or pose model, keeps no per-face or per-person row and no thumbnail; each source
yields one aggregate row (``Result.statistics``), blanked below ``min_group`` people.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectlens.config import AnalysisConfig
from affectlens.errors import InputError
from affectlens.events.falls import FallEvent
from affectlens.observers import FrameObserver, ThumbnailCollector
from affectlens.people import (
    EVENT_COLUMNS,
    PERSON_COLUMNS,
    PeoplePipeline,
    PeopleState,
    event_row,
    person_rows,
)
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
from affectlens.sources import IMAGE_SUFFIXES, MediaInfo, expand_inputs, open_media
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
) -> Result:
    """Analyse video files, images and folders of them.

    >>> result = affectlens.analyze("session.mp4", AnalysisConfig(fps=5))
    >>> result.tracks[["track_id", "dominant_expression", "age_band"]]
    >>> result.to_csv("out/")
    >>> result.events  # falls, long lies and inactivity (when config.pose)

    With ``purpose="anonymous_statistics"`` only ``result.statistics`` is filled (observers
    and ``people`` are refused: they would see single people).
    """
    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    pipeline = pipeline or Pipeline(config)
    cfg = pipeline.config
    if not cfg.expression_allowed:
        return _anonymous(paths, pipeline, list(observers), progress, people)
    if people is None and cfg.pose:
        people = PeoplePipeline(cfg.falls, cfg.device, cfg.threads, landmarks=cfg.pose_landmarks)
    body = _BodyRows(people) if people else None
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
        sources.append(_analyse_file(path, pipeline, watchers, rows, progress, body))
    return Result(
        frames=frames_table(rows),
        sources=_sources_table(sources),
        settings=pipeline.config.model_dump(),
        thumbnails=thumbnails.thumbnails,
        persons=body.persons_table() if body else None,
        events=body.events_table() if body else None,
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
               progress: Progress | None, people: PeoplePipeline | None) -> Result:
    """anonymous_statistics: faces and ages go into per-source counts and nowhere else."""
    cfg = pipeline.config
    if observers or people is not None:
        raise ValueError("purpose anonymous_statistics yields aggregate counts only; frame "
                         "observers (annotated video) and the pose path see single people")
    files, missing = expand_inputs(paths)
    sources = [_source_row(str(p), None, 0, 0, 0, "error", m) for p, m in missing]
    stats: list[dict[str, Any]] = []
    for path in files:
        counts = _Counts(cfg.statistics_every_s)
        row = _analyse_file(path, pipeline, [], [], progress, counts=counts)
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
    """One source's frames, faces and each track's age estimates per time bucket (one bucket
    for the whole file when ``every`` is None), for its aggregate rows."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.last_s = 0.0
        self.frames: Counter[int] = Counter()
        self.faces: Counter[int] = Counter()
        self.ages: defaultdict[int, dict[int, list[float]]] = defaultdict(dict)

    def add(self, analysis: FaceAnalysis) -> None:
        bucket = int(analysis.timestamp // self.every) if self.every else 0
        self.last_s = max(self.last_s, analysis.timestamp)
        self.frames[bucket] += 1
        self.faces[bucket] += len(analysis)
        for track, age in zip(analysis.track_ids, analysis.ages):
            if track > 0:
                self.ages[bucket].setdefault(int(track), []).append(float(age))

    def rows(self, source: str, min_group: int) -> list[dict[str, Any]]:
        """Every bucket from the start to the last frame, empty ones included (suppressed)."""
        if not self.every:
            return [statistics_row(source, (0.0, self.last_s), self.frames[0], self.faces[0],
                                   self.ages[0], min_group)]
        return [
            statistics_row(source, (b * self.every, (b + 1) * self.every), self.frames[b],
                           self.faces[b], self.ages[b], min_group)
            for b in range(int(self.last_s // self.every) + 1)
        ]


class _BodyRows:
    """Per-frame person rows and fall events of every source, for the Result's tables."""

    def __init__(self, people: PeoplePipeline) -> None:
        self.people = people
        self.persons: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._open: dict[int, FallEvent] = {}
        self._state: PeopleState | None = None

    def start(self, analysis_fps: float | None) -> None:
        self._state = self.people.start_source(analysis_fps)
        self._open = {}

    def add(self, source: str, batch: list[Frame]) -> list[np.ndarray]:
        """Each frame's regions to blur besides faces (PeopleAnalysis.blur_boxes)."""
        assert self._state is not None
        extras = []
        for analysis in self.people.analyse(batch, self._state):
            self.persons += person_rows(source, analysis)
            self._open |= {id(e): e for e in analysis.events}
            extras.append(analysis.blur_boxes())
        return extras

    def finish(self, source: str) -> None:
        """Events in the order they fired, with their end times (open ones end now)."""
        if self._state is not None:
            self._open |= {id(e): e for e in self.people.finish(self._state)}
        self.events += [event_row(source, e) for e in
                        sorted(self._open.values(), key=lambda e: (e.detected_s, e.kind))]
        self._state, self._open = None, {}

    def persons_table(self) -> pd.DataFrame:
        table = pd.DataFrame(self.persons, columns=PERSON_COLUMNS)
        return table.astype({"track_id": "Int64"})

    def events_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.events, columns=EVENT_COLUMNS).astype({"track_id": "Int64"})


def _analyse_file(
    path: Path, pipeline: Pipeline, watchers: list[FrameObserver],
    rows: list[dict[str, Any]], progress: Progress | None, body: _BodyRows | None = None,
    counts: _Counts | None = None,
) -> dict[str, Any]:
    config = pipeline.config
    try:
        source = open_media(path, config.fps, config.max_image_side)
    except InputError as exc:
        log.warning("%s", exc)
        return _source_row(str(path), None, 0, 0, 0, "error", str(exc))
    info = source.info
    analysis_fps = min(config.fps or info.native_fps or 25.0, info.native_fps or 25.0)
    state = pipeline.start_source(analysis_fps if info.kind == "video" else None)
    active = _start(watchers, info)
    if body:
        body.start(analysis_fps if info.kind == "video" else None)
    count, faces, tracks = 0, 0, set()
    try:
        for batch in _batches(source.frames(), config.batch_frames):
            extras = body.add(str(path), batch) if body else [None] * len(batch)
            for frame, analysis, extra in zip(batch, pipeline.analyse(batch, state), extras):
                if counts is not None:
                    counts.add(analysis)
                    continue
                rows += frame_rows(str(path), analysis)
                faces += len(analysis)
                tracks.update(int(t) for t in analysis.track_ids if t > 0)
                active = _notify(active, frame, analysis, extra)
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
        if body:
            body.finish(str(path))
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
