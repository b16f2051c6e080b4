"""``affectlens eval voice``: a labelled folder of speech in, the report and card out."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner
from voiceutil import silence, voice, write_wav

from affectlens.cli import app

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "voice" / \
    "ravdess-speech-16k.tar.gz"


def test_eval_voice_on_class_folders_writes_report_and_card(tmp_path: Path) -> None:
    data = tmp_path / "speech"
    for name, f0 in (("calm", 110.0), ("fearful", 260.0), ("bored", 150.0)):
        (data / name).mkdir(parents=True)
        for i in range(3):
            write_wav(data / name / f"{i}.wav",
                      np.concatenate([silence(0.3), voice(2.0, f0 + 5 * i, seed=i), silence(0.3)]))
    (data / "calm" / "broken.wav").write_bytes(b"RIFF....WAVEfmt junk")
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "voice", "--data", str(data), "--out", str(out),
                                      "--resamples", "50"])
    assert result.exit_code == 0, result.output
    assert "left out: class 'bored' (3 files)" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == 6 and report["no_speech"] == 0 and report["unreadable_files"] == 1
    assert report["classes"] == ["calm", "fear"] and report["groups"] == []
    assert {p.name for p in out.iterdir()} >= {"card.md", "card.html", "confusion.png",
                                               "reliability.png", "report.json"}
    assert "Describe this data's speakers" in (out / "card.md").read_text()


def test_eval_voice_on_unseen_ravdess_actors(tmp_path: Path) -> None:
    """Actors 09 and 10 (never trained on nor calibrated on): well above chance (12.5%)."""
    if not ARCHIVE.is_file():
        pytest.skip(f"shared voice data not present: {ARCHIVE}")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers()
                                          if "Actor_09" in m.name or "Actor_10" in m.name],
                       filter="data")
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "voice", "--data", str(tmp_path / "ravdess"),
                                      "--out", str(out), "--resamples", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == 120 and report["ravdess_names"]
    assert report["accuracy"] > 0.3 and report["arousal_accuracy"] > 0.7
    assert sorted(g["name"] for g in report["groups"]) == ["female", "male"]
    assert "flatter it" in (out / "card.md").read_text()
    shutil.rmtree(tmp_path / "ravdess")


def test_eval_voice_refuses_an_unlabelled_folder(tmp_path: Path) -> None:
    write_wav(tmp_path / "loose.wav", voice(1.0))
    result = CliRunner().invoke(app, ["eval", "voice", "--data", str(tmp_path), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2 and "no labelled audio" in result.output
