"""What an analysis returns: tidy per-frame, per-track and per-source tables, and their files.

One row of ``frames`` is one face in one analysed frame. Track ids are local to their source
(video): (source, track_id) names a track. Nothing here identifies anyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectlens.counting import Bucket
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import (
    AGE_BANDS,
    EXPRESSIONS,
    UNCERTAIN,
    FaceAnalysis,
    age_band,
    plural,
)
from affectlens.vocabulary import FALL_KINDS
from affectlens.voice.engine import VoiceOutput

PROB_COLUMNS = [f"p_{name}" for name in EXPRESSIONS]
SMOOTHED_COLUMNS = [f"smoothed_{name}" for name in EXPRESSIONS]
FRAME_COLUMNS = [
    "source", "frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "face_score",
    *PROB_COLUMNS, *SMOOTHED_COLUMNS, "expression", "expression_confidence", "age", "age_band",
]
AGE_BAND_COUNT_COLUMNS = [f"people_age_{name}" for name, _, _ in AGE_BANDS]
STATISTICS_COLUMNS = [
    "source", "start_s", "end_s", "frames_analysed", "people", "faces", *AGE_BAND_COUNT_COLUMNS,
    "suppressed", "note",
]
# Settings of the expression and pose paths, which anonymous_statistics never runs: left out
# of its outputs, which say nothing about expression or a person's body.
PER_PERSON_SETTINGS = frozenset({
    "expression_model", "smoothing_tau_s", "switch_margin", "min_confidence", "pose", "falls",
    "distress",
})
SOURCE_COLUMNS = [
    "source", "kind", "width", "height", "native_fps", "frames_analysed", "faces", "tracks",
    "status", "message",
]


@dataclass
class Result:
    """Per-frame rows, per-track summaries and per-source status of one ``analyze`` call."""

    frames: pd.DataFrame
    sources: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    thumbnails: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    # Body pose (affectlens.people): None when pose was not estimated.
    persons: pd.DataFrame | None = None
    # Falls, long lies, inactivity and distress (affectlens.engine); None for anonymous
    # statistics, which raise no event about anyone.
    events: pd.DataFrame | None = None
    # anonymous_statistics (the purpose gate): aggregate rows per source, STATISTICS_COLUMNS;
    # then ``frames`` and ``tracks`` are empty and no per-person table is written.
    statistics: pd.DataFrame | None = None
    # Tone of voice (consented_research only): voice.csv's rows and a status per input.
    voice: VoiceOutput | None = None

    @property
    def anonymous(self) -> bool:
        return self.statistics is not None

    @cached_property
    def tracks(self) -> pd.DataFrame:
        """Derived from ``frames`` once; the report, summary and files all read it."""
        return summarise_tracks(self.frames)

    def no_tracks_reason(self) -> str:
        """Why ``tracks`` is empty, in one line that agrees with the sources table's counts:
        faces may have been detected (its ``faces``) without any being followed long enough
        to start a track (its ``tracks``)."""
        faces = int(self.sources.faces.fillna(0).sum())
        if not faces:
            return "No face was found in any input."
        return (f"No face was tracked: {plural(faces, 'face')} detected, none seen on two "
                "analysed frames in a row (a track starts on its second frame).")

    @property
    def errors(self) -> list[str]:
        return self.sources.loc[self.sources.status == "error", "message"].tolist()

    def summary(self) -> dict[str, Any]:
        """A JSON-ready overview: settings, each source, and the expression mix per source
        (anonymous statistics: the aggregate rows instead, and nothing per person)."""
        if self.statistics is not None:
            return {"settings": self.settings, "sources": _records(self.sources),
                    "statistics": _records(self.statistics)}
        tracked = self.frames[self.frames.track_id.notna()]
        mix = (
            tracked.groupby("source").expression.value_counts(normalize=True).round(4)
            .unstack(fill_value=0.0).to_dict(orient="index")
        )
        sources = self.sources.replace({np.nan: None}).to_dict(orient="records")
        for row in sources:
            row["expression_mix"] = mix.get(row["source"], {})
        summary = {
            "settings": self.settings,
            "sources": sources,
            "tracks": self.tracks.replace({np.nan: None}).to_dict(orient="records"),
        }
        if self.events is not None:
            events = self.events.astype(object).where(self.events.notna(), None)
            records = events.to_dict(orient="records")
            summary["events"] = records
            summary["fall_events"] = [e for e in records if e["kind"] in FALL_KINDS]
        if self.voice is not None:
            summary["voice"] = self.voice.summary()
        return summary

    def to_csv(self, directory: str | Path) -> list[Path]:
        return self._write(Path(directory), "csv")

    def to_parquet(self, directory: str | Path) -> list[Path]:
        return self._write(Path(directory), "parquet")

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.summary(), indent=2, default=_json_default))
        return path

    def _write(self, directory: Path, fmt: str) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        tables = [("frames", self.frames), ("tracks", self.tracks)]
        if self.statistics is not None:
            tables = [("statistics", self.statistics)]
        else:
            tables += [(name, table) for name, table in
                       (("persons", self.persons), ("events", self.events)) if table is not None]
        if self.voice is not None and self.statistics is None:
            tables.append(("voice", self.voice.windows))
        for name, table in tables:
            path = directory / f"{name}.{fmt}"
            if fmt == "csv":
                table.to_csv(path, index=False, float_format="%.4f")
            else:
                table.to_parquet(path, index=False)
            written.append(path)
        return written


def combine(parts: list[Result]) -> Result:
    """One Result of the inputs of ``parts``, in their order, as one ``analyze`` call over
    all of them gives: for inputs analysed apart (on a cluster's nodes, issue 15)."""
    if not parts:
        raise ValueError("nothing to combine")

    def tables(name: str) -> pd.DataFrame | None:
        found = [t for p in parts if (t := getattr(p, name)) is not None]
        if not found:
            return None
        kept = [t for t in found if not t.empty] or found[:1]  # empty parts keep no dtypes
        return pd.concat(kept, ignore_index=True)

    voices = [p.voice for p in parts if p.voice is not None]
    voice = None if not voices else VoiceOutput(
        pd.concat([v.windows for v in voices], ignore_index=True),
        [s for v in voices for s in v.sources], voices[0].model)
    return Result(
        frames=tables("frames"), sources=tables("sources"), settings=parts[0].settings,
        thumbnails={k: v for p in parts for k, v in p.thumbnails.items()},
        persons=tables("persons"), events=tables("events"), statistics=tables("statistics"),
        voice=voice,
    )


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


def statistics_row(source: str, span: tuple[float, float], counts: Bucket,
                   min_group: int) -> dict[str, Any]:
    """The aggregate of one source (or one time span of it), people counted as
    affectlens.counting says, in STATISTICS_COLUMNS order; every count is blanked, with a
    note saying why, when fewer than ``min_group`` people contributed."""
    row: dict[str, Any] = {"source": source, "start_s": round(span[0], 4),
                           "end_s": round(span[1], 4), "frames_analysed": counts.frames}
    if counts.people < min_group:
        return row | dict.fromkeys(["people", "faces", *AGE_BAND_COUNT_COLUMNS]) | {
            "suppressed": True,
            "note": f"suppressed: fewer than {min_group} people (min_group) were seen",
        }
    row |= {"people": counts.people, "faces": counts.faces}
    row |= {f"people_age_{name}": n for name, n in counts.bands().items()}
    return row | {"suppressed": False, "note": ""}


def statistics_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=STATISTICS_COLUMNS)
    return table.astype({c: "Int64" for c in ["people", "faces", *AGE_BAND_COUNT_COLUMNS]})


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def frame_rows(source: str, analysis: FaceAnalysis) -> list[dict[str, Any]]:
    """One row per face of one analysed frame, in FRAME_COLUMNS order."""
    rows = []
    faces = analysis.faces
    for i in range(len(analysis)):
        label = analysis.dominant[i]
        confidence = (
            float(analysis.smoothed_probs[i].max()) if label == UNCERTAIN
            else float(analysis.smoothed_probs[i][EXPRESSIONS.index(label)])
        )
        track = int(analysis.track_ids[i])
        row: dict[str, Any] = {
            "source": source,
            "frame": analysis.frame_index,
            "time_s": round(analysis.timestamp, 4),
            "track_id": None if track == UNTRACKED else track,
            "x1": float(faces.boxes[i, 0]), "y1": float(faces.boxes[i, 1]),
            "x2": float(faces.boxes[i, 2]), "y2": float(faces.boxes[i, 3]),
            "face_score": float(faces.scores[i]),
        }
        row.update(zip(PROB_COLUMNS, analysis.expression_probs[i].tolist()))
        row.update(zip(SMOOTHED_COLUMNS, analysis.smoothed_probs[i].tolist()))
        row.update(
            expression=label, expression_confidence=confidence,
            age=float(analysis.ages[i]), age_band=age_band(float(analysis.ages[i])),
        )
        rows.append(row)
    return rows


def frames_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    table["track_id"] = table["track_id"].astype("Int64")
    return table


def summarise_tracks(frames: pd.DataFrame) -> pd.DataFrame:
    """One row per track: its span, dominant expression, expression shares, and age band."""
    tracked = frames[frames.track_id.notna()]
    columns = ["source", "track_id", "first_s", "last_s", "frames", "dominant_expression",
               *[f"share_{n}" for n in EXPRESSIONS], f"share_{UNCERTAIN}", "age", "age_band"]
    if tracked.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (source, track_id), group in tracked.groupby(["source", "track_id"], sort=True):
        shares = group.expression.value_counts(normalize=True)
        labelled = shares.drop(UNCERTAIN, errors="ignore")
        age = float(group.age.median())
        row = {
            "source": source, "track_id": int(track_id),
            "first_s": float(group.time_s.min()), "last_s": float(group.time_s.max()),
            "frames": len(group),
            "dominant_expression": labelled.idxmax() if len(labelled) else UNCERTAIN,
            "age": round(age, 1), "age_band": age_band(age),
        }
        row.update({f"share_{n}": float(shares.get(n, 0.0)) for n in (*EXPRESSIONS, UNCERTAIN)})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
