"""Hard lines for tone of voice (issue 20): it runs for consented_research only, writes no
audio and no transcript, and nothing it outputs tells one speaker from another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from voiceutil import silence, voice, write_video, write_wav

import affectlens
from affectlens import AnalysisConfig
from affectlens.cli import app
from affectlens.voice import engine, model
from affectlens.voice.engine import VOICE_COLUMNS

SPEAKER_WORDS = ("speaker", "actor", "gender", "sex", "identity", "embedding", "voiceprint",
                 "transcript", "text", "word")


@pytest.fixture()
def talking(tmp_path: Path) -> Path:
    return write_video(tmp_path / "talking.mkv", 5.0,
                       np.concatenate([silence(0.5), voice(4.0), silence(0.5)]))


@pytest.mark.parametrize("purpose", ["care_safety", "anonymous_statistics"])
def test_voice_never_runs_for_other_purposes(purpose: str, talking: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the voice model was loaded for purpose {purpose}")

    monkeypatch.setattr(model.VoiceClassifier, "__init__", refuse)
    monkeypatch.setattr(engine.VoiceAnalyser, "__init__", refuse)
    clip = write_wav(tmp_path / "speech.wav", voice(2.0))
    config = AnalysisConfig(purpose=purpose, pose=False)
    assert not config.voice_allowed
    result = affectlens.analyze([talking, clip], config)
    assert result.voice is None
    assert "voice" not in result.summary()
    written = {p.name for p in result.to_csv(tmp_path / "out")}
    assert "voice.csv" not in written
    if purpose == "care_safety":  # the audio file is refused with the reason, not analysed
        row = result.sources[result.sources.source == str(clip)].iloc[0]
        assert row.status == "error" and "consented_research" in row.message


def test_voice_allowed_only_for_consented_research() -> None:
    assert AnalysisConfig().voice_allowed  # the default purpose is consented_research
    assert not AnalysisConfig(voice={"enabled": False}).voice_allowed
    assert not AnalysisConfig(purpose="care_safety").voice_allowed


def test_outputs_hold_no_audio_transcript_or_speaker(talking: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(talking), "--out", str(out), "--no-pose"])
    assert result.exit_code == 0, result.output
    names = {p.suffix for p in out.rglob("*") if p.is_file()}
    assert names <= {".csv", ".json", ".html"}  # no .wav, .flac, .npy, nothing with sound
    table = pd.read_csv(out / "voice.csv")
    assert len(table) >= 1 and list(table.columns) == VOICE_COLUMNS
    for column in table.columns:
        assert not any(w in column.lower() for w in SPEAKER_WORDS), column
    summary = json.loads((out / "summary.json").read_text())
    keys = _keys(summary["voice"])
    assert not {k for k in keys if any(w in k.lower() for w in SPEAKER_WORDS)}
    report = (out / "report.html").read_text().lower()
    assert "speaker" not in report and "transcript" not in report
    assert "audio/" not in report  # no embedded sound


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()
