"""Long videos split into segments for ``analyze --cluster`` (issue 15), stitched into one pass.

A video longer than ``segment_s`` is cut into segments of that length; each is analysed as
a Ray task by the same ``analyze`` as one machine runs, on a time span of the file (PyAV
seeks to it: sources/video.py gives the frames, indexes and times that reading the whole
file gives there). Each segment *owns* its span: every output row comes from the one
segment that owns its time. But what a frame yields depends on what came before it (face
and person tracks, expression smoothing, the fall, long-lie and distress rules), so each
segment starts analysing ``memory_s`` before its span (its warm-up, whose rows it does
not own) and stops at its span's end.

The memory rule (``memory_s``), from the settings: the longest window or hold of the rules
that run (distress ``hold_s`` plus its ``max_gap_s``; with pose, the fall classifier's
``window_s`` plus ``max_fall_s``, and ``long_lie_s``), plus the longest tracker buffer
(faces' ``lost_track_seconds``, people's ``falls.lost_s``), plus five expression smoothing
time constants (after them, where a track's smoothing started weighs under 1%). With the
defaults and pose: 30 + 2 + 5 = 37 s, so a 120 s segment analyses up to 157 s.

Stitching (``stitch``):

- rows (frames, persons): each from the segment owning its time;
- tracks: a segment's tracks seen in its warm-up are matched, frame by frame and box by box
  (IoU), to the stitched tracks of those same frames, and take their numbers; its other
  tracks get the next numbers in the order it numbered them, as one pass would: the number
  of tracks is one pass's;
- events: each from the segment owning the time it was detected (its warm-up covers the
  rule's window, so it decides as one pass does), its track renumbered; an event a later
  segment saw going on in its warm-up (the same kind and track, overlapping in time) ends
  when that segment saw it end, not when the earlier segment stopped looking; a distress
  event within ``cooldown_s`` of the last one on its track is dropped (one pass stays quiet
  then; a distress that lasts through the cooldown is thus raised by one pass later, and not
  here: the one case the warm-up cannot cover without a cooldown-long overlap);
- a distress event's confidence (the mean negative probability over its frames) is taken
  again over its track's rows of the stitched frames table, as the rule takes it: the
  segment that detected it saw only the frames before it stopped;
- a fall or long lie still open, the person down, when the last segment that saw it stopped
  (its rules' finish ended it at its last frame) was not seen by any later segment: their
  warm-ups start after the fall, and the person was not seen (or not as that person) since.
  One pass holds a person presumed on the floor however long (events/falls.py: no timeout
  ends it), so it ends at the video's last frame, unless the stitched persons table shows
  someone up for ``recover_s`` near where the person was last seen whose track began there
  (the rule's ``_helped_up``): then at that frame.

What still differs from one pass: smoothed expression probabilities of a track that started
before its segment's warm-up (its smoothing started later here: after five time constants
the difference is under 1%, and labels agree but where two expressions are within it; a
distress confidence over such rows differs as little), and what else depends on more than
``memory_s`` of history: a later segment that sees a fallen person lying where they fell
(not having seen the fall) holds them as someone found lying, not as the fallen person (one
pass's ``_take_over``): it may raise a long lie of its own on its own clock, and the fall's
end follows the persons table's states only as far as ``_held_until`` reads them; inactivity
(its ``inactivity_minutes`` is not in the memory); a new fall near a held person, which one
pass lets end the held one's events. Files of variable frame rate and anonymous statistics
are never split (one task a file): frame numbers come from times (constant rate), and
counts per bucket would need stitching of their own. Tone of voice (consented research) is
analysed over the whole sound by the first segment's task alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from affectlens.analysis import analyze
from affectlens.config import AnalysisConfig
from affectlens.events.distress import NEGATIVE
from affectlens.events.fall_features import from_coco, posture
from affectlens.models.pose import KEYPOINTS
from affectlens.observers import FrameObserver
from affectlens.result import Result
from affectlens.sources import VIDEO_SUFFIXES, MediaInfo, Span
from affectlens.types import FaceAnalysis, Frame
from affectlens.vocabulary import EventKind

SMOOTHING_SETTLED = 5  # time constants after which a smoothing's start weighs < 1% (e^-5)
MATCH_IOU = 0.5  # a box of a warm-up row and one of the stitched rows of the same frame
TIME_EPS = 1e-4  # tables keep times to 4 decimals


class SegmentSettings(BaseModel):
    """How ``analyze --cluster`` splits long videos (``--segment-s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_s: float = Field(
        120.0, ge=0, le=86_400, description="Videos longer than this are split into "
        "segments of this many seconds, each a task of its own, stitched back into one pass "
        "(docs/cluster.md); 0: one task a file.")


@dataclass(frozen=True)
class Segment:
    """The part of a video one task owns, [start_s, stop_s), and where it starts analysing."""

    start_s: float
    stop_s: float | None  # None: to the end
    warm_s: float  # start_s - memory_s, not before the video's start

    @property
    def span(self) -> Span:
        return Span(self.warm_s, self.stop_s)


@dataclass(frozen=True)
class Part:
    """A segment's result, and how many of its analysed frames it owns (the sources
    table's count of one pass: frames without faces leave no row to count)."""

    result: Result
    frames_owned: int
    # The time of the last frame it analysed (as the tables keep it): where its rules' finish
    # ended what was still open. None: a part from before this was kept.
    last_s: float | None = None


class _OwnedFrames:
    """Counts the analysed frames in a segment's own span (a FrameObserver)."""

    def __init__(self, segment: Segment) -> None:
        self.segment, self.count = segment, 0
        self.last_s: float | None = None

    def start(self, info: MediaInfo) -> None:
        pass

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None:
        self.last_s = round(frame.timestamp, 4)  # as the tables keep it
        if owns(self.segment, frame.timestamp):
            self.count += 1

    def finish(self) -> None:
        pass


def owns(segment: Segment, timestamp: float) -> bool:
    """Whether a frame at ``timestamp`` is the segment's own (not its warm-up's, not the next
    segment's): decided on the time as the tables keep it, as their rows are."""
    time = round(timestamp, 4)
    return time + TIME_EPS / 2 >= segment.start_s and (
        segment.stop_s is None or time + TIME_EPS / 2 < segment.stop_s)


def analyse_segment(path: Path, config: AnalysisConfig, segment: Segment,
                    observers: Sequence[FrameObserver] = ()) -> Part:
    """Runs on a node: one pass's ``analyze`` over the segment's span of ``path``."""
    owned = _OwnedFrames(segment)
    if segment.start_s > 0:  # tone of voice: the first segment's, over the whole sound
        config = config.model_copy(update={"voice": config.voice.model_copy(
            update={"enabled": False})})
    result = analyze([path], config, observers=[owned, *observers], span=segment.span)
    return Part(result, owned.count, owned.last_s)


def memory_s(config: AnalysisConfig) -> float:
    """How far back what a frame yields can depend on (the module's rule), in seconds."""
    distress = config.distress
    windows = [distress.hold_s + distress.max_gap_s]
    buffers = [config.lost_track_seconds]
    if config.pose:
        falls = config.falls
        windows += [falls.window_s + falls.max_fall_s, falls.long_lie_s]
        buffers.append(falls.lost_s)
    return max(windows) + max(buffers) + SMOOTHING_SETTLED * config.smoothing_tau_s


def splittable_duration(path: Path, config: AnalysisConfig) -> float | None:
    """The video's length when it may be split (a constant-rate video, analysed per person
    without voice), else None: one task for the whole file."""
    if path.suffix.lower() not in VIDEO_SUFFIXES or not config.expression_allowed:
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            average, guessed = stream.average_rate, stream.guessed_rate
            if not average or not guessed or abs(average / guessed - 1) > 1e-3:
                return None  # variable frame rate: frame numbers need the frames before
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / av.time_base if container.duration else None
    except (av.error.FFmpegError, IndexError):
        return None  # not a video it can read: the task reports it as one machine would


def plan(duration_s: float | None, segment_s: float, overlap_s: float) -> list[Segment]:
    """Segments of ``segment_s`` covering the video (one when it is no longer, or unknown)."""
    if duration_s is None or segment_s <= 0 or duration_s <= segment_s:
        return [Segment(0.0, None, 0.0)]
    count = math.ceil(duration_s / segment_s)
    return [Segment(k * segment_s, None if k == count - 1 else (k + 1) * segment_s,
                    max(0.0, k * segment_s - overlap_s)) for k in range(count)]


def _owned(table: pd.DataFrame, column: str, segment: Segment) -> pd.Series:
    after = table[column] + TIME_EPS / 2 >= segment.start_s
    if segment.stop_s is None:
        return after
    return after & (table[column] + TIME_EPS / 2 < segment.stop_s)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row IoU of two (n, 4) box arrays."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    area = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
            + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)
    return np.where(area > 0, inter / np.where(area > 0, area, 1), 0.0)


class _Numbering:
    """One table's track numbers across segments (faces or people): local -> stitched."""

    def __init__(self) -> None:
        self.stitched: list[pd.DataFrame] = []  # owned rows so far, stitched numbers
        self.issued = 0

    def map(self, rows: pd.DataFrame, segment: Segment) -> dict[int, int]:
        """This segment's numbers: warm-up tracks matched to stitched ones, others new."""
        tracked = rows[rows.track_id.notna()]
        mapping: dict[int, int] = {}
        warm = tracked[~_owned(tracked, "time_s", segment)]
        if self.stitched and not warm.empty:
            known = pd.concat(self.stitched, ignore_index=True)
            known = known[known.track_id.notna() & (known.time_s >= segment.warm_s - TIME_EPS)]
            pairs = warm.merge(known, on="frame", suffixes=("", "_s"))
            boxes = ["x1", "y1", "x2", "y2"]
            if not pairs.empty:
                overlap = _iou(pairs[boxes].to_numpy(float),
                               pairs[[f"{b}_s" for b in boxes]].to_numpy(float))
                pairs = pairs[overlap >= MATCH_IOU]
                votes = pairs.groupby(["track_id", "track_id_s"]).size().reset_index()
                votes = votes.sort_values([0, "track_id_s"], ascending=[False, True])
                for local, stitched in zip(votes.track_id, votes.track_id_s):
                    mapping.setdefault(int(local), int(stitched))
        for local in sorted(int(t) for t in tracked.track_id.unique()):
            if local not in mapping:
                self.issued += 1
                mapping[local] = self.issued
        return mapping

    def keep(self, owned: pd.DataFrame) -> None:
        self.stitched.append(owned)
        if owned.track_id.notna().any():
            self.issued = max(self.issued, int(owned.track_id.max()))


def _renumber(table: pd.DataFrame, mapping: dict[int, int]) -> pd.DataFrame:
    table = table.copy()
    table["track_id"] = table.track_id.map(
        lambda t: pd.NA if pd.isna(t) else mapping.get(int(t), int(t))).astype("Int64")
    return table


def stitch(segments: Sequence[Segment], done: Sequence[Part],
           config: AnalysisConfig) -> Result:
    """One video's segment results (in order) as one pass over it gives (the module says
    how, and what may still differ)."""
    faces, people = _Numbering(), _Numbering()
    frames, persons, events, thumbnails = [], [], [], {}
    best: dict[int, float] = {}
    face_maps: list[dict[int, int]] = []
    person_maps: list[dict[int, int]] = []
    parts = [d.result for d in done]
    for segment, part in zip(segments, parts):
        face_map = faces.map(part.frames, segment)
        owned = _renumber(part.frames[_owned(part.frames, "time_s", segment)], face_map)
        faces.keep(owned)
        frames.append(owned)
        face_maps.append(face_map)
        for local, stitched in face_map.items():  # the most confident face's, as one pass
            rows = part.frames[part.frames.track_id == local]
            key = (str(rows.source.iloc[0]), local) if len(rows) else None
            if key in part.thumbnails and rows.face_score.max() > best.get(stitched, -1.0):
                best[stitched] = float(rows.face_score.max())
                thumbnails[(key[0], stitched)] = part.thumbnails[key]
        if part.persons is not None:
            person_map = people.map(part.persons, segment)
            owned = _renumber(part.persons[_owned(part.persons, "time_s", segment)],
                              person_map)
            people.keep(owned)
            persons.append(owned)
            person_maps.append(person_map)
        else:
            person_maps.append({})
    for segment, part, face_map, person_map, piece in zip(
            segments, parts, face_maps, person_maps, done):
        if part.events is None:
            continue
        table = part.events.copy()
        table[_HELD] = _held_at_stop(table, segment, piece)
        distress = table.kind == str(EventKind.DISTRESS)
        table.loc[distress] = _renumber(table[distress], face_map)
        table.loc[~distress] = _renumber(table[~distress], person_map)
        owned = _owned(table, "detected_s", segment)
        events = _extended(events, table[~owned])
        events += [row for _, row in table[owned].iterrows()]
    counted = sum(d.frames_owned for d in done)
    joined_frames = _concat(frames) if frames else parts[0].frames
    joined_persons = _concat(persons) if persons else None
    events = _quiet(events, config)
    for event in events:
        if event.kind == str(EventKind.DISTRESS):
            event["confidence"] = _distress_confidence(event, joined_frames, config)
        elif event[_HELD]:
            event["ended_s"] = _held_until(event, joined_persons, done[-1], config)
    return _one_result(parts, counted, frames, persons, events, thumbnails)


_HELD = "_held_at_stop"  # a stitching column: open (down) when its segment stopped
_DOWN_KINDS = (str(EventKind.FALL), str(EventKind.LONG_LIE))
_UP_STATES = ("upright", "recovered")


def _held_at_stop(table: pd.DataFrame, segment: Segment, part: Part) -> pd.Series:
    """Falls and long lies still open when the segment stopped (not the video's end): the
    rule's finish ended them at its last frame because the person was down there, seen or
    not (one a rule closed on that very frame was seen up or replaced there: not held)."""
    last = part.last_s
    if segment.stop_s is None or last is None or table.empty:
        return pd.Series(False, index=table.index)
    held = table.kind.isin(_DOWN_KINDS) & (table.ended_s >= last - TIME_EPS / 2)
    people = part.result.persons
    if people is not None and held.any():
        at_end = people[(people.time_s - last).abs() <= TIME_EPS / 2]
        up = {int(t) for t in at_end[at_end.state.isin(_UP_STATES)].track_id.dropna()}
        held &= ~table.track_id.map(lambda t: not pd.isna(t) and int(t) in up).astype(bool)
    return held


def _distress_confidence(event: pd.Series, frames: pd.DataFrame,
                         config: AnalysisConfig) -> float:
    """The mean negative probability over the event's frames of its track in the stitched
    table, as the one-pass rule (events/distress.py) averages it: every observation from
    its start to its end, but the one that ended it by dropping below the release level."""
    rows = frames[(frames.track_id == event.track_id)
                  & (frames.time_s >= event.started_s - TIME_EPS / 2)]
    if not pd.isna(event.ended_s):
        rows = rows[rows.time_s <= event.ended_s + TIME_EPS / 2]
    values = rows[[f"smoothed_{name}" for name in NEGATIVE]].sum(axis=1)
    settings = config.distress
    if not pd.isna(event.ended_s) and len(rows):
        closing = ((rows.time_s - event.ended_s).abs() <= TIME_EPS / 2) & (
            values < settings.threshold - settings.release_margin)
        values = values[~closing]
    if values.empty:
        return float(event.confidence)
    return round(float(values.mean()), 4)


def _pose(row: pd.Series) -> tuple[tuple[float, float], float]:
    """A persons row's hip centre and torso length, as the fall rule measures them."""
    keypoints = np.array([[row[f"{k}_x"], row[f"{k}_y"], row[f"{k}_score"]]
                          for k in KEYPOINTS], np.float64)
    p = posture(from_coco(keypoints))
    return p.hip, p.torso_length


def _held_until(event: pd.Series, people: pd.DataFrame | None, last: Part,
                config: AnalysisConfig) -> float:
    """When one pass ends a fall or long lie whose person was down when their segment
    stopped and that no later segment saw going on (they never saw the person fall): a
    person presumed on the floor is never ended by time (falls.py), so at the video's end,
    unless the stitched persons table shows someone up for ``recover_s`` near where the
    person was last seen whose track began there (FallRule._helped_up), or the person's own
    track up for ``recover_s``: then at that frame. "Up" is the rule's state in the table
    (upright, recovered), which a later segment that found the person lying gives only
    once up for ``confirm_s`` (or ``recover_s`` after a long lie of its own): the end may
    come that much later than one pass's. Without the last segment's time, where it
    stands."""
    end = last.last_s if last.last_s is not None else float(event.ended_s)
    if people is None or people.empty or pd.isna(event.track_id):
        return max(end, float(event.ended_s))
    settings = config.falls
    mine = people[(people.track_id == event.track_id)
                  & (people.time_s <= event.ended_s + TIME_EPS / 2)]
    hip = (float(event.x), float(event.y))  # where it fell, unless seen since
    if len(mine) and np.isfinite(seen := _pose(mine.iloc[-1])[0]).all():
        hip = seen
    upright = mine[mine.state.isin(_UP_STATES)]
    lengths = [length for _, row in upright.iterrows()
               if np.isfinite(length := _pose(row)[1])]
    scale = float(np.median(lengths[-30:])) if lengths else float("nan")
    later = people[(people.time_s > event.ended_s + TIME_EPS / 2) & people.track_id.notna()]
    for track, rows in later.sort_values("time_s").groupby("track_id", sort=False):
        # Their own track (a later segment matched them lying there): up is enough.
        anywhere = int(track) == int(event.track_id)
        first, _ = _pose(rows.iloc[0])
        since = None
        for _, row in rows.iterrows():
            if row.state not in _UP_STATES:
                since = None
                continue
            at, length = _pose(row)
            since = row.time_s if since is None else since
            size = scale if np.isfinite(scale) else length if np.isfinite(length) else 1.0
            radius = settings.recovery_radius * size
            if row.time_s - since >= settings.recover_s - TIME_EPS / 2 and (anywhere or all(
                    np.hypot(p[0] - hip[0], p[1] - hip[1]) <= radius for p in (at, first))):
                end = min(end, float(row.time_s))
                break
    return max(end, float(event.ended_s))


def _extended(events: list[pd.Series], going_on: pd.DataFrame) -> list[pd.Series]:
    """Events the segment saw going on in its warm-up end when it saw them end."""
    for _, seen in going_on.iterrows():
        for event in events:
            same = (event.kind == seen.kind and not pd.isna(event.track_id)
                    and event.track_id == seen.track_id)
            overlapping = seen.started_s <= (event.ended_s if not pd.isna(event.ended_s)
                                             else math.inf) + TIME_EPS
            if not (same and overlapping) or pd.isna(seen.ended_s):
                continue
            if pd.isna(event.ended_s) or seen.ended_s > event.ended_s:
                event["ended_s"] = seen.ended_s
            if seen.ended_s >= event.ended_s - TIME_EPS / 2:  # it saw further: its word
                event[_HELD] = seen[_HELD]
    return events


def _quiet(events: list[pd.Series], config: AnalysisConfig) -> list[pd.Series]:
    """Drops a distress event within ``cooldown_s`` after the last one on its track."""
    kept: list[pd.Series] = []
    quiet_until: dict[int, float] = {}
    for event in sorted(events, key=lambda e: (e.detected_s, e.kind)):
        if event.kind == str(EventKind.DISTRESS) and not pd.isna(event.track_id):
            track = int(event.track_id)
            if event.started_s < quiet_until.get(track, -math.inf):
                continue
            if not pd.isna(event.ended_s):
                quiet_until[track] = event.ended_s + config.distress.cooldown_s
        kept.append(event)
    return kept


def _one_result(parts: Sequence[Result], counted: int, frames: list[pd.DataFrame],
                persons: list[pd.DataFrame], events: list[pd.Series],
                thumbnails: dict[tuple[str, int], np.ndarray]) -> Result:
    """The stitched tables as one Result; the source's row sums up its segments'."""
    first = parts[0]
    table = _concat(frames) if frames else first.frames
    source = first.sources.iloc[[0]].copy()
    statuses = [str(p.sources.status.iloc[0]) for p in parts]
    messages = list(dict.fromkeys(m for p in parts if (m := str(p.sources.message.iloc[0]))))
    source["status"] = ("error" if "error" in statuses
                        else "warning" if "warning" in statuses else "ok")
    source["message"] = "; ".join(messages)
    source["frames_analysed"] = counted
    source["faces"] = len(table)
    source["tracks"] = int(table.track_id.nunique())
    source = source.astype(first.sources.dtypes.to_dict())
    event_table = None
    if first.events is not None:
        # The column types of a part that had events: an empty table's (a segment before
        # anything happened) are not one pass's (text columns come out as objects).
        typed = next((p.events for p in parts if p.events is not None and len(p.events)),
                     first.events)
        event_table = (pd.DataFrame(events, columns=typed.columns).reset_index(drop=True)
                       if events else typed.iloc[0:0])
        event_table = event_table.astype(typed.dtypes.to_dict()).infer_objects()
    return Result(
        frames=table.reset_index(drop=True), sources=source.reset_index(drop=True),
        settings=first.settings, thumbnails=thumbnails,
        persons=_concat(persons) if persons else None,
        events=event_table, statistics=None, voice=first.voice,
    )


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The tables one after another, with the column types one pass's table has: a text
    column that is empty in one segment (no rows, or no state yet) comes out of it as
    objects, so object columns are inferred again from all the rows together."""
    return pd.concat(tables, ignore_index=True).infer_objects()
