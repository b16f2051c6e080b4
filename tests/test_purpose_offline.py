"""The purpose gate for offline jobs (issue 6 item 5): anonymous_statistics loads no expression
model and writes aggregate counts over at least k people only; hard-line purposes are refused.

Real data: the shared multi_face.jpg (five faces) and the built-in two-face sample video."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import affectlens
import affectlens.pipeline
from affectlens import AnalysisConfig
from affectlens.cli import app
from affectlens.people import PeoplePipeline
from affectlens.pipeline import Pipeline
from affectlens.result import AGE_BAND_COUNT_COLUMNS
from affectlens.samples import write_sample_video
from affectlens.types import EXPRESSIONS, UNCERTAIN

ANON = "anonymous_statistics"
runner = CliRunner()
# Words that only a per-person or expression output contains.
FORBIDDEN = (*EXPRESSIONS, UNCERTAIN, "expression", "smoothed_", "share_", "track_id",
             "dominant", "thumbnail", "<img", "keypoint", "nose_x", "fall_events")


def _no_expression_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("the expression model was loaded for anonymous_statistics")


def test_default_purpose_is_consented_research() -> None:
    assert AnalysisConfig().purpose == "consented_research"
    assert AnalysisConfig().expression_allowed
    assert not AnalysisConfig(purpose=ANON).expression_allowed


@pytest.mark.parametrize(("purpose", "why"), [
    ("staff_monitoring", "monitor staff"), ("pupil-engagement-monitoring", "monitor staff"),
    ("race_detection", "race"), ("watchlist", "identifies"), ("danger_score", "danger"),
])
def test_hard_line_purpose_is_refused_with_the_reason(purpose: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AnalysisConfig.model_validate({"purpose": purpose})


def test_anonymous_statistics_never_loads_the_expression_model(
        monkeypatch: pytest.MonkeyPatch, media) -> None:
    monkeypatch.setattr(affectlens.pipeline, "ExpressionClassifier", _no_expression_model)
    pipeline = Pipeline(AnalysisConfig(purpose=ANON))
    assert pipeline.models.expression is None
    result = affectlens.analyze(media("multi_face.jpg"), pipeline=pipeline)
    assert result.statistics is not None and result.frames.empty and result.tracks.empty
    with pytest.raises(AssertionError, match="expression model was loaded"):
        Pipeline(AnalysisConfig(purpose="care_safety"))


def test_lent_models_never_run_expression(pipeline_for, models, monkeypatch, media) -> None:
    monkeypatch.setattr(models.expression, "predict", _no_expression_model)
    pipeline = pipeline_for(purpose=ANON)
    assert pipeline.models.expression is None
    result = affectlens.analyze(media("multi_face.jpg"), pipeline=pipeline)
    assert result.statistics.people.tolist() == [5]


def test_aggregates_need_k_people(pipeline_for, media) -> None:
    photo = media("multi_face.jpg")  # five people
    (row,) = affectlens.analyze(photo, pipeline=pipeline_for(purpose=ANON, min_group=5)
                                ).statistics.to_dict(orient="records")
    assert (row["people"], row["faces"], row["suppressed"]) == (5, 5, False)
    assert sum(row[c] for c in AGE_BAND_COUNT_COLUMNS) == 5
    (row,) = affectlens.analyze(photo, pipeline=pipeline_for(purpose=ANON, min_group=6)
                                ).statistics.to_dict(orient="records")
    assert row["suppressed"] and "fewer than 6 people" in row["note"]
    assert all(pd.isna(row[c]) for c in ("people", "faces", *AGE_BAND_COUNT_COLUMNS))


def test_time_buckets_each_need_k_people(pipeline_for, tmp_path: Path) -> None:
    sample = write_sample_video(tmp_path / "sample.mp4")  # two faces throughout, 4 s
    stats = affectlens.analyze(
        sample, pipeline=pipeline_for(purpose=ANON, min_group=2, statistics_every_s=1.0)
    ).statistics
    assert stats.start_s.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert stats.end_s.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert stats.people.tolist() == [2, 2, 2, 2] and not stats.suppressed.any()
    assert stats.frames_analysed.sum() == 40
    stats = affectlens.analyze(
        sample, pipeline=pipeline_for(purpose=ANON, min_group=3, statistics_every_s=1.0)
    ).statistics
    assert len(stats) == 4 and stats.suppressed.all() and stats.people.isna().all()


def test_observers_and_pose_are_refused(pipeline_for, media) -> None:
    photo, anonymous = media("multi_face.jpg"), pipeline_for(purpose=ANON)
    with pytest.raises(ValueError, match="aggregate counts only"):
        affectlens.analyze(photo, pipeline=anonymous,
                           observers=[object()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="aggregate counts only"):
        affectlens.analyze(photo, pipeline=anonymous, people=PeoplePipeline(threads=1))
    plain = affectlens.analyze(photo, pipeline=anonymous)  # pose is on by default: not here
    assert plain.persons is None and plain.events is None


def test_care_safety_gives_the_same_rows_as_consented_research(pipeline_for, media) -> None:
    photo = media("multi_face.jpg")
    care = affectlens.analyze(photo, pipeline=pipeline_for(purpose="care_safety"))
    research = affectlens.analyze(photo, pipeline=pipeline_for())
    assert care.statistics is None and len(care.frames) == 5
    pd.testing.assert_frame_equal(care.frames, research.frames)
    assert set(care.frames.expression) <= {*EXPRESSIONS, UNCERTAIN}


@pytest.fixture(scope="module")
def anon_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI on the two-face sample video (k=2: shown) and a five-face photo (k=2: shown)
    plus the sample again at k=3 in a second run (suppressed)."""
    folder = tmp_path_factory.mktemp("anon")
    sample = write_sample_video(folder / "sample.mp4")
    photo = Path(__file__).resolve().parents[2] / "shared/data/media/multi_face.jpg"
    inputs = [str(sample), *([str(photo)] if photo.is_file() else [])]
    for k in (2, 3):
        result = runner.invoke(app, ["analyze", *inputs, "--purpose", ANON, "--min-group",
                                     str(k), "--out", str(folder / f"k{k}")])
        assert result.exit_code == 0, result.output
    return folder


def test_anonymous_outputs_hold_no_person_and_no_expression(anon_out: Path) -> None:
    for k in ("k2", "k3"):
        written = sorted(p.name for p in (anon_out / k).iterdir())
        assert written == ["report.html", "statistics.csv", "summary.json"]
        for path in (anon_out / k).iterdir():
            text = path.read_text().lower()
            found = [word for word in FORBIDDEN if word in text]
            assert not found, f"{path.name} holds {found}"


def test_anonymous_counts_shown_at_k_and_suppressed_below(anon_out: Path) -> None:
    shown = pd.read_csv(anon_out / "k2" / "statistics.csv")
    sample = shown[shown.source.str.endswith("sample.mp4")].iloc[0]
    assert (sample.people, sample.suppressed) == (2, False)
    assert sample.faces >= 2 * sample.frames_analysed - 2  # both faces in (nearly) every frame
    hidden = pd.read_csv(anon_out / "k3" / "statistics.csv")
    sample = hidden[hidden.source.str.endswith("sample.mp4")].iloc[0]
    assert sample.suppressed and pd.isna(sample.people) and pd.isna(sample.faces)
    assert "fewer than 3 people" in sample.note
    assert "fewer than 3 people" in (anon_out / "k3" / "report.html").read_text()
    if len(hidden) == 2:  # the five-face photo is over k in both runs
        assert hidden[hidden.source.str.endswith("multi_face.jpg")].people.tolist() == [5]


@pytest.mark.parametrize(("args", "why"), [
    (["--purpose", "marketing"], "anonymous_statistics"),
    (["--purpose", "staff_monitoring"], "monitor staff"),
    (["--purpose", "ethnicity_stats"], "never infers race"),
    (["--purpose", ANON, "--video"], "aggregate counts only"),
    (["--purpose", ANON, "--min-group", "1"], "min_group"),
])
def test_bad_purpose_on_the_cli_exits_2_with_the_reason(
        tmp_path: Path, args: list[str], why: str) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path), *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert why in " ".join(result.output.split())


def test_help_teaches_the_purposes() -> None:
    text = " ".join(runner.invoke(app, ["analyze", "--help"]).output.split())
    for word in ("--purpose", "care_safety", "consented_research", "anonymous_statistics",
                 "--min-group", "--every"):
        assert word in text
