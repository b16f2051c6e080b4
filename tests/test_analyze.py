"""``affectlens.analyze`` end to end on real media (../shared/data/media; skipped if absent)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import pandas as pd
import pytest

import affectlens
from affectlens.models.face_detector import FaceDetector
from affectlens.result import FRAME_COLUMNS, Result
from affectlens.types import EXPRESSIONS, UNCERTAIN


def duration_s(path: Path) -> float:
    """The video's length in seconds, read with PyAV independently of affectlens."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base


@pytest.fixture(scope="module")
def multi_face(media, pipeline) -> Result:
    return affectlens.analyze(media("multi_face.jpg"), pipeline=pipeline)


@pytest.fixture(scope="module")
def at_10fps(pipeline_for):
    return pipeline_for(fps=10)


def test_single_woman_is_one_track(wolfgang) -> None:
    path, result = wolfgang
    (source,) = result.sources.to_dict(orient="records")
    assert source["status"] == "ok" and source["message"] == ""
    assert source["kind"] == "video" and (source["width"], source["height"]) == (640, 360)
    assert source["native_fps"] == pytest.approx(24000 / 1001)
    analysed = source["frames_analysed"]
    assert analysed >= 0.95 * duration_s(path) * source["native_fps"]
    frames = result.frames
    assert not frames.frame.duplicated().any()  # one face per frame at most
    assert len(frames) >= 0.95 * analysed
    assert frames.time_s.is_monotonic_increasing
    tracks = result.tracks
    assert len(tracks) == 1 and source["tracks"] == 1
    track = tracks.iloc[0]
    assert track.frames >= 0.9 * analysed
    assert track.first_s < 1.0 and track.last_s > duration_s(path) - 1.0
    assert track.age >= 18  # an adult woman


def test_expression_goes_from_not_happy_to_happy(wolfgang) -> None:
    path, result = wolfgang
    frames = result.frames
    assert set(frames.expression) <= {*EXPRESSIONS, UNCERTAIN}
    length = duration_s(path)
    start = frames[frames.time_s < 0.25 * length]
    end = frames[frames.time_s > 0.85 * length]
    assert len(start) > 50 and len(end) > 30
    assert (end.expression == "happy").mean() > 0.8
    assert (start.expression == "happy").mean() < 0.2
    # She cries at the start: the smoothed label there is mostly sad.
    assert (start.expression == "sad").mean() > 0.5


def test_frames_table_is_consistent(wolfgang) -> None:
    _, result = wolfgang
    frames = result.frames
    assert list(frames.columns) == FRAME_COLUMNS
    p = frames[[f"p_{e}" for e in EXPRESSIONS]].to_numpy()
    smoothed = frames[[f"smoothed_{e}" for e in EXPRESSIONS]].to_numpy()
    assert abs(p.sum(axis=1) - 1).max() < 1e-3
    assert abs(smoothed.sum(axis=1) - 1).max() < 1e-3
    labelled = frames[frames.expression != UNCERTAIN]
    confidence = [row[f"smoothed_{row.expression}"] for _, row in labelled.iterrows()]
    assert labelled.expression_confidence.tolist() == pytest.approx(confidence)
    assert ((frames.x1 >= 0) & (frames.x2 <= 640) & (frames.y1 >= 0) & (frames.y2 <= 360)).all()
    assert frames.age.between(0, 80).all()


def test_multi_face_photo_five_rows_five_tracks(multi_face: Result) -> None:
    frames, sources = multi_face.frames, multi_face.sources
    assert len(frames) == 5
    assert sources.loc[0, "kind"] == "image" and sources.loc[0, "status"] == "ok"
    assert sources.loc[0, "faces"] == 5 and sources.loc[0, "tracks"] == 5
    assert sorted(frames.track_id.tolist()) == [1, 2, 3, 4, 5]
    assert len(multi_face.tracks) == 5
    assert (frames.expression == "happy").sum() >= 4  # five smiling people
    assert set(multi_face.thumbnails) == {(str(frames.source[0]), i) for i in range(1, 6)}
    # Each thumbnail is the surroundings of a face, every face blurred: the detector, even
    # searching down to 16 px, finds none (in the photo itself it finds all five).
    detector = FaceDetector(min_face_px=16)
    assert [len(d) for d in detector.predict(list(multi_face.thumbnails.values()))] == [0] * 5


def test_no_face_video(media, at_10fps) -> None:
    path = media("no_face.mp4")
    result = affectlens.analyze(path, pipeline=at_10fps)
    (source,) = result.sources.to_dict(orient="records")
    assert source["status"] == "ok" and source["message"] == ""
    assert (source["width"], source["height"]) == (960, 540)
    assert source["frames_analysed"] >= 0.9 * duration_s(path) * 10
    assert source["faces"] == 0 and source["tracks"] == 0
    assert len(result.frames) == 0 and len(result.tracks) == 0
    assert list(result.frames.columns) == FRAME_COLUMNS


def test_face_leaves_the_frame(media, at_10fps) -> None:
    path = media("face_noface.mov")
    length = duration_s(path)
    result = affectlens.analyze(path, pipeline=at_10fps)
    (source,) = result.sources.to_dict(orient="records")
    assert source["status"] == "ok"
    assert source["frames_analysed"] >= 0.9 * length * 10  # the end was analysed too
    tracks = result.tracks
    assert len(tracks) == 1
    assert tracks.first_s[0] < 0.5
    assert tracks.last_s[0] < length - 2.0
    # No tracked face after it left; a one-frame detection (never confirmed as a track, so
    # track_id is empty) may occur, and is labelled as such.
    late = result.frames[result.frames.time_s > length - 2.0]
    assert late.track_id.isna().all() and len(late) <= 1


def test_face_enters_the_frame(media, at_10fps) -> None:
    path = media("noface_face.mov")
    length = duration_s(path)
    result = affectlens.analyze(path, pipeline=at_10fps)
    tracks = result.tracks
    assert len(tracks) == 1
    assert tracks.first_s[0] > 2.0
    assert tracks.last_s[0] > length - 0.5
    assert not (result.frames.time_s < 2.0).any()


def test_fps_subsamples_video(media, pipeline_for) -> None:
    path = media("single_face.mp4")
    result = affectlens.analyze(path, pipeline=pipeline_for(fps=5))
    (source,) = result.sources.to_dict(orient="records")
    expected = duration_s(path) * 5
    assert abs(source["frames_analysed"] - expected) <= 1.5
    gaps = result.frames.time_s.diff().dropna()
    assert gaps.between(0.19, 0.21).all()
    assert result.settings["fps"] == 5


@pytest.fixture(scope="module")
def combined(media, at_10fps) -> Result:
    """Two sources in one result: a photo and a video."""
    return affectlens.analyze(
        [media("multi_face.jpg"), media("single_face.mp4")], pipeline=at_10fps
    )


def test_csv_round_trip(combined: Result, tmp_path: Path) -> None:
    written = combined.to_csv(tmp_path / "csv")
    # persons and events: body pose and falls (on by default; AnalysisConfig.pose); voice:
    # the video's sound track (consented_research, the default purpose).
    assert sorted(p.name for p in written) == [
        "events.csv", "frames.csv", "persons.csv", "tracks.csv", "voice.csv"
    ]
    frames = pd.read_csv(tmp_path / "csv" / "frames.csv")
    assert len(frames) == len(combined.frames) > 5
    assert list(frames.columns) == list(combined.frames.columns)
    assert frames.source.nunique() == 2
    tracks = pd.read_csv(tmp_path / "csv" / "tracks.csv")
    assert len(tracks) == len(combined.tracks) == 6
    assert list(tracks.columns) == list(combined.tracks.columns)


def test_parquet_round_trip(combined: Result, tmp_path: Path) -> None:
    combined.to_parquet(tmp_path / "pq")
    frames = pd.read_parquet(tmp_path / "pq" / "frames.parquet")
    assert list(frames.columns) == list(combined.frames.columns)
    pd.testing.assert_frame_equal(frames, combined.frames)
    tracks = pd.read_parquet(tmp_path / "pq" / "tracks.parquet")
    assert len(tracks) == len(combined.tracks)
    assert list(tracks.columns) == list(combined.tracks.columns)


def test_json_summary(combined: Result, tmp_path: Path) -> None:
    path = combined.to_json(tmp_path / "out" / "summary.json")
    summary = json.loads(path.read_text())
    assert len(summary["sources"]) == len(combined.sources) == 2
    assert len(summary["tracks"]) == len(combined.tracks)
    assert summary["settings"]["fps"] == 10
    for source in summary["sources"]:
        mix = source["expression_mix"]
        assert sum(mix.values()) == pytest.approx(1.0, abs=1e-3)


FORBIDDEN = re.compile(r"race|ethnic|identity|identities|embedding|gender|sex|danger", re.I)


def test_no_sensitive_columns(combined: Result, tmp_path: Path) -> None:
    for table in (combined.frames, combined.tracks, combined.sources, combined.persons,
                  combined.events):
        assert not [c for c in table.columns if FORBIDDEN.search(c)]
    summary = json.loads(combined.to_json(tmp_path / "s.json").read_text())
    keys = set(summary) | set(summary["settings"])
    keys |= {k for row in summary["sources"] + summary["tracks"] for k in row}
    assert not [k for k in keys if FORBIDDEN.search(k)]
