"""The command line on the built-in sample and on bad input (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.models.face_detector import FaceDetector
from affectlens.samples import sample_frames, write_sample_video

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo-report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str((out / "report.html").resolve()) in result.output.replace("\n", "")
    return out


def _video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def test_demo_finds_both_sample_faces_where_they_are(demo_out: Path) -> None:
    frames = pd.read_csv(demo_out / "frames.csv")
    truth = sample_frames()
    assert sorted(frames.frame.unique()) == list(range(len(truth)))
    for row in frames.itertuples():
        cx, cy = (row.x1 + row.x2) / 2, (row.y1 + row.y2) / 2
        rects = truth[row.frame][1]
        assert any(x1 < cx < x2 and y1 < cy < y2 for x1, y1, x2, y2 in rects), row


def test_demo_gives_one_stable_track_per_face(demo_out: Path) -> None:
    tracks = pd.read_csv(demo_out / "tracks.csv")
    assert len(tracks) == 2
    n_frames = len(sample_frames())
    # ByteTrack confirms a track on its second frame; after that it must never break.
    assert (tracks.frames >= n_frames - 1).all()
    frames = pd.read_csv(demo_out / "frames.csv").dropna(subset=["track_id"])
    for _, group in frames.groupby("track_id"):
        centres = ((group.x1 + group.x2) / 2).to_numpy()
        assert np.abs(np.diff(centres)).max() < 20  # the id never jumps to the other face


def test_demo_writes_report_with_a_section_per_track(demo_out: Path) -> None:
    html = (demo_out / "report.html").read_text()
    assert "Track 1" in html and "Track 2" in html
    assert "NOT blurred" not in html
    assert html.count("data:image/png;base64,") >= 6  # thumbnails, timelines, mixes
    # Each blurred thumbnail says why it is blurred.
    assert html.count("Face blurred for privacy.") == html.count('class="thumb"') == 2


def test_annotated_video_has_every_face_blurred(demo_out: Path) -> None:
    annotated = _video_frames(demo_out / "videos" / "sample.annotated.mp4")
    assert len(annotated) == len(sample_frames())
    detector = FaceDetector()
    found = detector.predict(annotated[::4])
    assert sum(len(f) for f in found) == 0
    originals = [image for image, _ in sample_frames()[::4]]
    assert all(len(f) == 2 for f in detector.predict(originals))  # the same detector sees them


def test_no_blur_is_explicit_and_marked(tmp_path: Path, demo_out: Path) -> None:
    out = tmp_path / "noblur"
    result = runner.invoke(
        app, ["analyze", str(demo_out / "sample.mp4"), "--out", str(out), "--video", "--no-blur"]
    )
    assert result.exit_code == 0, result.output
    assert "NOT blurred" in (out / "report.html").read_text()
    frame = _video_frames(out / "videos" / "sample.annotated.mp4")[5]
    banner = frame[:20, :200].reshape(-1, 3).mean(0)
    assert banner[2] > 150 and banner[0] < 80  # red banner (BGR) across the top
    assert len(FaceDetector().predict([frame])[0]) == 2
    alone = tmp_path / "noblur-no-video"  # --no-blur without --video: nothing unblurred
    result = runner.invoke(app, ["analyze", str(demo_out / "sample.mp4"), "--out", str(alone),
                                 "--no-blur", "--no-pose"])
    assert result.exit_code == 0, result.output
    assert "NOT blurred" not in (alone / "report.html").read_text()
    assert json.loads((alone / "summary.json").read_text())["settings"][
        "blur_annotated_video"] is True


def test_analyze_reports_bad_files_and_keeps_good_ones(tmp_path: Path, demo_out: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video at all\n")
    (folder / "good.mp4").write_bytes((demo_out / "sample.mp4").read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(folder), "--out", str(out), "--fps", "5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "empty.mp4: empty file (0 bytes)" in text
    assert "notes.mp4: not a readable video" in text
    tracks = pd.read_csv(out / "tracks.csv")
    assert set(tracks.source.map(lambda s: Path(s).name)) == {"good.mp4"}


def test_analyze_fails_only_when_nothing_could_be_analysed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00garbage" * 100)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("not media\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(bad), str(tmp_path / "missing.mov"), str(notes),
                                 "--out", str(out)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "bad.jpg: not a readable image" in text
    assert "missing.mov: no such file or folder" in text
    assert "notes: folder holds no video or image files" in text
    # Nothing to show, so nothing written (no empty tables or report), and no report offered.
    assert f"nothing analysed: none of the 3 inputs could be read; nothing written to {out}" \
        in text
    assert not out.exists() and "Open the report" not in text


def test_invalid_option_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path), "--fps", "-3"])
    assert result.exit_code == 2
    assert "fps" in result.output


def test_refused_purpose_names_the_field_once_and_says_why(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path), "--purpose", "watchlist"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "invalid option: purpose: refused:" in text and "purpose: purpose" not in text
    assert "identifies" in text


def test_no_pose_skips_the_body_path(tmp_path: Path, demo_out: Path) -> None:
    """The demo (pose on, the default) writes persons.csv; --no-pose analyses faces only."""
    assert (demo_out / "persons.csv").is_file()
    video = write_sample_video(tmp_path / "sample.mp4")
    result = runner.invoke(app, ["analyze", str(video), "--fps", "2", "--no-pose",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert "frames.csv" in written and "persons.csv" not in written
    # events.csv stays, for distress (a face's); no body, so no fall, long lie or inactivity.
    assert set(pd.read_csv(tmp_path / "out" / "events.csv").kind) <= {"distress"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["settings"]["pose"] is False


def test_help_teaches(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--help"])
    assert result.exit_code == 0
    for word in ("--fps", "--device", "--out", "--no-blur", "Examples"):
        assert word in result.output


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--help"], ["serve", "--help"]])
def test_help_reads_as_prose(args: list[str]) -> None:
    """Wide enough not to wrap, every sentence is on one line (docstring line breaks are not
    kept), flags show no '<bool>' type and the usage line no '{inputs}'."""
    output = runner.invoke(app, args, env={"COLUMNS": "250"}).output
    assert "<bool>" not in output and "{inputs}" not in output
    lines = {" ".join(line.strip(" │").split()) for line in output.splitlines()}
    wanted = {
        "--help": "a JSON summary and an HTML report.",
        "analyze": "1 when none could be, 2 for a wrong or refused option (the message says why).",
        "serve": "AFFECTLENS_* variables override the file (docs/serving.md).",
    }[args[0]]
    assert any(wanted in line for line in lines), output
    if args[0] == "analyze":
        assert any(line.endswith("analyze [OPTIONS] INPUTS...") for line in lines), output


def test_full_scan_every_zero_searches_every_frame_in_full(tmp_path: Path) -> None:
    """The gated face search is the default; --full-scan-every 0 asks for the reference (the
    whole frame every frame), and the summary records which ran. A negative period is a
    clear error."""
    video = write_sample_video(tmp_path / "sample.mp4")
    ran = {}
    for flag in ("1", "0"):
        out = tmp_path / f"out{flag}"
        result = runner.invoke(app, ["analyze", str(video), "--fps", "2", "--no-pose",
                                     "--full-scan-every", flag, "--out", str(out)])
        assert result.exit_code == 0, result.output
        ran[flag] = json.loads((out / "summary.json").read_text())["settings"]
    assert ran["1"]["full_scan_every_s"] == 1.0 and ran["0"]["full_scan_every_s"] is None
    bad = runner.invoke(app, ["analyze", str(video), "--full-scan-every", "-1"])
    assert bad.exit_code == 2 and "full_scan_every_s" in bad.output
