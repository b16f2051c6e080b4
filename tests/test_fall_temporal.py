"""The temporal fall model (eval.fall_temporal): its ONNX export loads and runs without torch,
its inputs do not depend on where or how large the person is in the image, it scores real
falls above real daily activities, and inside the rule it only replaces the classifier.

Accuracy and its cost per window are measured by benchmarks/falls_temporal.py, not here.
The shared datasets are used where present (../shared/data/falls); those tests skip without.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectlens.errors import ModelError
from affectlens.eval.fall_datasets import FallDataset, load_fall_datasets
from affectlens.eval.fall_lodo import recordings_of
from affectlens.eval.fall_temporal import (
    CHANNELS,
    MODEL_FILE,
    STEPS,
    TemporalFallModel,
    TemporalRule,
    resample,
    sequence_windows,
    window_inputs,
)
from affectlens.eval.falls import rule_detects_fall
from affectlens.events.fall_settings import FallSettings

FALLS = Path(__file__).resolve().parents[2] / "shared" / "data" / "falls"


@pytest.fixture(scope="module")
def datasets() -> list[FallDataset]:
    if not (FALLS / "le2i" / "le2i_home_01.json").is_file():
        pytest.skip(f"shared fall datasets not present at {FALLS}")
    return load_fall_datasets(FALLS, ["URFD", "Le2i"])


@pytest.fixture(scope="module")
def model() -> TemporalFallModel:
    return TemporalFallModel.load()


def test_model_loads_without_torch_and_refuses_bad_input(model: TemporalFallModel,
                                                          tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from affectlens.eval.fall_temporal import "
         "TemporalFallModel as M; M.load(); assert 'torch' not in sys.modules"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    p = model.probability(np.zeros((2, CHANNELS, STEPS), np.float32))
    assert p.shape == (2,) and ((p > 0) & (p < 1)).all()
    with pytest.raises(ModelError, match="shape"):
        model.probability(np.zeros((1, CHANNELS, STEPS + 1), np.float32))
    # A sidecar that says the model read other inputs: refused by name, not a shape error.
    shutil.copy(MODEL_FILE, tmp_path / "m.onnx")
    meta = json.loads(MODEL_FILE.with_suffix(".json").read_text()) | {"fps": 30.0}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="other inputs"):
        TemporalFallModel.load(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="cannot read"):
        TemporalFallModel.load(tmp_path / "missing.onnx")


def test_inputs_ignore_where_and_how_large_the_person_is(datasets: list[FallDataset]) -> None:
    seq = datasets[0].sequences[0]
    frames = resample(seq.times, seq.bodies, float(seq.times[-1]))
    moved = frames.copy()
    moved[..., :2] = moved[..., :2] * 0.5 + np.array([100.0, 40.0])
    np.testing.assert_allclose(window_inputs(moved), window_inputs(frames), atol=1e-4)
    # A joint not seen is zero in every channel but its flag, wherever the pose put it.
    lost = frames.copy()
    lost[:, 0, 2] = 0.0
    lost[:, 0, :2] = 9999.0
    inputs = window_inputs(lost)
    assert not inputs[[0, 1, 18, 19, 36]].any()


def test_real_falls_score_above_real_daily_activities(datasets: list[FallDataset],
                                                      model: TemporalFallModel) -> None:
    """Le2i's recordings (a home room and camera unlike URFD's): the model's highest window
    over each fall recording against each daily activity's, as a ranking (AUC)."""
    le2i = datasets[1]
    scores = {0: [], 1: []}
    for whole in recordings_of(le2i):
        scores[whole.label].append(model.sequence_probability(whole))
    falls, adls = np.array(scores[1]), np.array(scores[0])
    auc = float((falls[:, None] > adls[None, :]).mean())
    assert auc > 0.8, (falls, adls)
    assert np.median(falls) > np.median(adls)


def test_inside_the_rule_it_only_replaces_the_classifier(datasets: list[FallDataset],
                                                         model: TemporalFallModel) -> None:
    urfd = datasets[0]
    whole = next(w for w in recordings_of(urfd) if w.label == 1)
    rule = TemporalRule(None, model)
    assert rule_detects_fall(rule, whole)
    probability = rule.probabilities()[1]
    assert 0.7 <= probability <= 1.0  # FallSettings.min_probability, unchanged
    windows = sequence_windows(whole)
    assert windows.shape[1:] == (CHANNELS, STEPS)
    # The rule's gate still decides: asked for more than the model gave, no fall.
    strict = TemporalRule(FallSettings(min_probability=(probability + 1) / 2), model)
    assert not rule_detects_fall(strict, whole)
    assert strict.probabilities()[1] == pytest.approx(probability)
